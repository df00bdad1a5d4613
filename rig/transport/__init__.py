"""One module per wire protocol: USB control requests, DfuSe, listening-mode console, YMODEM,
uhubctl hubs, the cloud API, and external tools (dfu-util, particle, pyocd).
"""
