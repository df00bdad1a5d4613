"""Real uhubctl output (several hubs, USB 2 and 3, ganged and per-port power) for parser tests."""

from __future__ import annotations

SAMPLES = """Current status for hub 1-1 [14b0:013f StarTech.com USB 2.0 HUB, USB 2.10, 5 ports, ppps]
  Port 1: 0000 off
  Port 2: 0100 power
  Port 3: 0103 power enable connect [2581:3b7c Ledger Ledger Wallet 0000]
  Port 4: 0503 power highspeed enable connect [0bda:5411 Generic 4-Port USB 2.0 Hub]
  Port 5: 0101 power connect []
Current status for hub 3-4 [1a40:0101 USB 2.0 Hub, USB 2.00, 4 ports, ganged]
Current status for hub 2-2 [0bda:0411 Generic USB3.2 Hub, USB 3.20, 4 ports, ppps]
  Port 1: 02a0 power 5gbps Rx.Detect
  Port 2: 00a0 off
  Port 4: 0203 power 5gbps U0 enable connect [0bda:9210 ULT-Best Best USB Device 012938000FA5]
Current status for hub 1 [1d6b:0002 Linux 5.4.79-v7+ dwc_otg_hcd DWC OTG Controller 3f980000.usb, USB 2.00, 1 ports, ppps]
Sent power off request
New status for hub 1-1 [0424:9514, USB 2.00, 5 ports, ppps]
  Port 2: 0000 off
  Port 4: 0507 power highspeed suspend enable connect [2109:2822 VIA Labs, Inc. USB2.0 Hub, USB 2.10, 4 ports, ppps]
"""
