"""A labgrid lab of two bench hosts on one machine with no boards (docs/multi-host.md, "The loopback
lab"): a coordinator on 127.0.0.1, an sshd on 127.0.0.2 and one on 127.0.0.3 (host keys of their
own, key auth only, nothing beyond loopback), each "host" with a served simulated bench on USB
(`rig sim serve --usb`) and its labgrid exporter; then `rig matrix --labgrid` across both hosts,
and everything torn down (no process, acquired place or lock left).

    examples/labgrid-loopback/run OUTDIR [rig matrix options...]

OUTDIR/results.json holds one record per path, each naming its host; OUTDIR/lab/ the hosts'
files and every program's log. The exit code is rig matrix's (0: every path passed or was refused
as planned), or 2 when the lab could not be brought up (the log that says why is named).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from rig import matrix

HOSTS = {"h1": "127.0.0.2", "h2": "127.0.0.3"}
COORDINATOR_ADDRESS = "127.0.0.1"
BOARDS = """\
devices:
  - name: {host}-photon
    platform: photon
    device_id: e00fa1b2c3d4e5f6000{n}0001
    hub: {{location: "1-1", port: 1}}
    sim: {{device_os: "2.3.1"}}
  - name: {host}-boron
    platform: boron
    device_id: e00fa1b2c3d4e5f6000{n}0002
    hub: {{location: "1-1", port: 2}}
    sim: {{device_os: "2.3.1"}}
"""
# wall seconds per modelled second on the served benches (the box's tested scale; RIG_LOOPBACK_TIME_SCALE)
TIME_SCALE = os.environ.get("RIG_LOOPBACK_TIME_SCALE", "0.25")
UP_TIMEOUT = 90.0  # wall seconds for each part of the lab to come up
STOP_TIMEOUT = 20.0  # wall seconds for each program to end after SIGTERM (then SIGKILL)
MATRIX_TIMEOUT = 3600.0  # wall seconds for the matrix across the hosts
MATRIX = ["--platforms", "photon", "boron", "--methods", "dfu", "usb", "--from", "1.5.2", "2.3.1",
          "--to", "1.5.2", "2.3.1", "-n", "4"]  # fmt: skip


class LabError(Exception):
    """A part of the lab did not come up."""


def free_port() -> int:
    """A TCP port free on every loopback address now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    for address in HOSTS.values():
        with socket.socket() as s:
            s.bind((address, port))
    return port


def until(what: str, log: Path | None, check: Callable[[], bool]) -> None:
    """Poll `check` until it holds, for at most UP_TIMEOUT wall seconds."""
    deadline = time.monotonic() + UP_TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise LabError(f"{what} did not come up within {UP_TIMEOUT:g} s" + (f" (see {log})" if log else ""))
        time.sleep(0.25)


class Lab:
    """The programs of the lab, each in a session of its own, stopped in reverse order."""

    def __init__(self, out: Path, labgrid_bin: Path, boards: str = BOARDS) -> None:
        self.out, self.lab, self.bin = out, out / "lab", labgrid_bin
        self.boards = boards  # each host's devices.yaml, with {host} and {n} (the host's number)
        self.logs = self.lab / "logs"
        self.rig = str(Path(sys.executable).with_name("rig"))
        self.stack = ExitStack()
        self.env = {**os.environ, "PATH": f"{self.lab / 'ssh' / 'bin'}:{os.environ['PATH']}"}
        self.env["RIG_LABGRID_CLIENT"] = str(labgrid_bin / "labgrid-client")
        self.programs: dict[str, tuple[list[str], Path | None, subprocess.Popen[bytes]]] = {}  # by name

    def start(self, name: str, command: list[str], cwd: Path | None = None, supervised: bool = False) -> Path:
        """Start a program of the lab; its output goes to logs/NAME.log. A supervised one is started
        again a second after it ends, as systemd's `Restart=always` would (the exporters: they exit
        when the coordinator goes).
        """
        if supervised:
            command = ["/bin/sh", "-c", 'while :; do "$@"; sleep 1; done', "supervise", *command]
        process = self._spawn(name, command, cwd)
        if name not in self.programs:
            self.stack.callback(lambda: self._stop(name, self.programs[name][2]))  # the one running then
        self.programs[name] = (command, cwd, process)
        return self.logs / f"{name}.log"

    def restart(self, name: str) -> None:
        """Stop a program of the lab (SIGTERM, then SIGKILL) and start it again as it was."""
        command, cwd, process = self.programs[name]
        self._stop(name, process)
        self.programs[name] = (command, cwd, self._spawn(name, command, cwd))

    def _spawn(self, name: str, command: list[str], cwd: Path | None) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as f:
            return subprocess.Popen(
                command, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, env=self.env,
                start_new_session=True,
            )  # fmt: skip

    def _stop(self, name: str, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM to the program's whole session, then SIGKILL to what is left of it (a supervised
        exporter still shutting down after its supervisor ended, too).
        """
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            end = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < end and _group_alive(process):
                time.sleep(0.1)
            if _group_alive(process):
                print(f"{name} did not end on {sig.name}", file=sys.stderr)
            else:
                break

    def run(self, *command: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run a command of the set-up to its end; LabError with its output when it fails."""
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=self.env, check=False)
        if done.returncode != 0:
            raise LabError(f"{' '.join(command[:4])} failed: {(done.stderr or done.stdout).strip()[-500:]}")
        return done

    def keys(self, port: int) -> None:
        """Host keys, the client's key, known_hosts, and an `ssh` that uses them (first on PATH)."""
        ssh = self.lab / "ssh"
        ssh.mkdir(mode=0o700)
        (ssh / "bin").mkdir()
        self.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "client_key"))
        shutil.copy(ssh / "client_key.pub", ssh / "authorized_keys")
        (ssh / "authorized_keys").chmod(0o600)  # sshd runs with StrictModes off: no one else may write it
        known = []
        for host, address in HOSTS.items():
            self.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / f"{host}_host_key"))
            known.append(f"[{address}]:{port} {(ssh / f'{host}_host_key.pub').read_text().strip()}\n")
        (ssh / "known_hosts").write_text("".join(known))
        (ssh / "config").write_text(
            f"Host {' '.join(HOSTS.values())}\n  Port {port}\n  User {os.environ.get('USER') or _user()}\n"
            f"  IdentityFile {ssh / 'client_key'}\n  IdentitiesOnly yes\n  BatchMode yes\n"
            f"  UserKnownHostsFile {ssh / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
        )
        wrapper = ssh / "bin" / "ssh"
        wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {shlex.quote(str(ssh / "config"))} "$@"\n')
        wrapper.chmod(0o755)

    def host(self, host: str, address: str, port: int, releases: Path, coordinator: str) -> None:
        """One bench host: its served bench, its rig command, its sshd, its exporter and places."""
        folder = self.lab / host
        (folder / "bin").mkdir(parents=True)
        (folder / "locks").mkdir()
        devices, env_file = folder / "devices.yaml", folder / "bench.env"
        devices.write_text(self.boards.format(host=host, n=host[-1]))
        serve = ["sim", "serve", str(devices), "--usb", "--releases", str(releases), "--time-scale", TIME_SCALE]
        log = self.start(f"{host}-bench", [self.rig, *serve, "--env-file", str(env_file)])
        until(f"{host}'s served bench", log, env_file.exists)
        # the host's `rig`: the rig installed there, seeing that host's USB (the served bench)
        rig = folder / "bin" / "rig"
        exe, env = shlex.quote(self.rig), shlex.quote(str(env_file))
        rig.write_text(f'#!/bin/sh\nexec {exe} sim exec --env-file {env} -- {exe} "$@"\n')
        rig.chmod(0o755)
        ssh = self.lab / "ssh"
        # SHLVL=1: bash runs ~/.bashrc for a command sent over ssh when it is the top shell (Debian's
        # SSH_SOURCE_BASHRC); labgrid sends dozens per try, and this user's .bashrc is a desktop's
        # (pyenv init: about 100 processes each). A real exporter host wants a light .bashrc too.
        (folder / "sshd_config").write_text(
            f"ListenAddress {address}:{port}\nHostKey {ssh / f'{host}_host_key'}\nPidFile {folder / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {ssh / 'authorized_keys'}\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n"
            f"UsePAM no\nStrictModes no\nX11Forwarding no\nAllowTcpForwarding no\nPrintMotd no\nAllowUsers {_user()}\n"
            f"SetEnv PATH={folder / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "
            f"RIG_DEVICES={devices} RIG_LOCK_DIR={folder / 'locks'} SHLVL=1\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
        log = self.start(f"{host}-sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", str(folder / "sshd_config")])
        until(f"{host}'s sshd", log, lambda: self._ok(["ssh", address, "true"]))
        lg = folder / "lg"
        self.run(self.rig, "sim", "exec", "--env-file", str(env_file), "--", self.rig, "labgrid", "export",
                 str(devices), "--name", host, "--out", str(lg))  # fmt: skip
        log = self.start(f"{host}-exporter", [self.rig, "sim", "exec", "--env-file", str(env_file), "--",
                                              str(self.bin / "labgrid-exporter"), "-c", coordinator, "-n", host,
                                              "--hostname", address, str(lg / "exporter.yaml")],
                         supervised=True)  # fmt: skip
        client = [str(self.bin / "labgrid-client"), "-x", coordinator]
        until(f"{host}'s exporter", log, lambda: f"{host}/" in self._quiet([*client, "resources"]))
        self.run(self.rig, "labgrid", "places", str(lg / "places.yaml"), "--coordinator", coordinator)

    def up(self) -> tuple[str, Path]:
        """The coordinator, the keys and both hosts, with synthetic releases: (coordinator, releases)."""
        self.logs.mkdir(parents=True)
        releases = self.lab / "releases"
        matrix.write_synthetic_store(releases, ["photon", "boron"])
        coordinator = f"{COORDINATOR_ADDRESS}:{free_port()}"
        (self.lab / "coordinator").mkdir()
        log = self.start("coordinator", [str(self.bin / "labgrid-coordinator"), "-l", coordinator],
                         cwd=self.lab / "coordinator")  # fmt: skip
        client = [str(self.bin / "labgrid-client"), "-x", coordinator]
        until("the coordinator", log, lambda: self._ok([*client, "places"]))
        port = free_port()
        self.keys(port)
        for host, address in HOSTS.items():
            self.host(host, address, port, releases, coordinator)
        print(f"lab up: coordinator {coordinator}, hosts {', '.join(f'{h} {a}' for h, a in HOSTS.items())}", flush=True)
        return coordinator, releases

    def matrix(self, coordinator: str, releases: Path, report: Path, options: list[str]) -> tuple[int, float]:
        """`rig matrix --labgrid` across the hosts into `report`: its exit code (1 also when a place is
        left acquired) and its wall seconds.
        """
        began = time.monotonic()
        process = subprocess.Popen(
            self.matrix_command(coordinator, releases, report, options), env=self.env, start_new_session=True
        )
        try:
            code = process.wait(timeout=MATRIX_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"rig matrix did not end within {MATRIX_TIMEOUT:g} s: stopped", file=sys.stderr)
            code = 1
        finally:  # Ctrl-C, SIGTERM or the timeout: the matrix and its workers stop as on SIGTERM
            self._stop("rig matrix", process)
        seconds = time.monotonic() - began
        held = self.acquired(coordinator)
        if held:
            print(f"places still acquired after the run: {held}", file=sys.stderr)
            code = code or 1
        return code, seconds

    def matrix_command(self, coordinator: str, releases: Path, report: Path, options: list[str]) -> list[str]:
        """The `rig matrix --labgrid` command line across the hosts (run it with `env`, in a session of its own)."""
        command = [self.rig, "matrix", "--labgrid", coordinator, "--releases", str(releases), "--report", str(report)]
        return [*command, *options]

    def _ok(self, command: list[str]) -> bool:
        return subprocess.run(command, capture_output=True, timeout=30, env=self.env, check=False).returncode == 0

    def _quiet(self, command: list[str]) -> str:
        return subprocess.run(command, capture_output=True, text=True, timeout=30, env=self.env, check=False).stdout

    def acquired(self, coordinator: str) -> list[str]:
        """Places someone holds now (none, after a run)."""
        text = self._quiet([str(self.bin / "labgrid-client"), "-x", coordinator, "-v", "places"])
        return [line for line in text.splitlines() if line.strip().startswith("acquired:") and "None" not in line]


def missing_tools() -> str | None:
    """What the lab needs beyond labgrid and is not installed, as one sentence; None if nothing."""
    missing = [tool for tool in ("/usr/sbin/sshd", "/usr/sbin/ser2net", "/usr/bin/rsync") if not Path(tool).exists()]
    if missing:  # labgrid's exporter serves an acquired serial port through ser2net; ManagedFile copies by rsync
        return f"{', '.join(missing)} missing: install Debian's openssh-server, ser2net and rsync."
    return None


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    """Whether any process of the program's session (its process group) still runs."""
    process.poll()  # reaps the leader once it ended
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def main(argv: list[str]) -> int:
    """Bring the lab up, run the matrix across both hosts into OUTDIR, tear the lab down."""
    if not argv or argv[0].startswith("-"):
        print("usage: examples/labgrid-loopback/run OUTDIR [rig matrix options...]", file=sys.stderr)
        return 2
    out = Path(argv[0]).resolve()
    if out.exists() and any(out.iterdir()):
        print(f"{out} is not empty: give a new folder (a run never overwrites another).", file=sys.stderr)
        return 2
    labgrid_bin = Path(
        os.environ.get("RIG_LABGRID_BIN") or Path(__file__).resolve().parents[2] / "tools/labgrid/venv/bin"
    )
    if not (labgrid_bin / "labgrid-coordinator").exists():
        print(f"labgrid is not in {labgrid_bin}: run tools/labgrid/install, or set RIG_LABGRID_BIN.", file=sys.stderr)
        return 2
    if missing := missing_tools():
        print(missing, file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):  # the lab is torn down on these as on Ctrl-C
        signal.signal(sig, _stop)
    lab = Lab(out, labgrid_bin)
    with lab.stack:
        try:
            coordinator, releases = lab.up()
        except (LabError, OSError, subprocess.SubprocessError) as exc:
            print(f"The loopback lab did not come up: {exc}", file=sys.stderr)
            return 2
        code, seconds = lab.matrix(coordinator, releases, out, argv[1:] or MATRIX)
        print(f"rig matrix took {seconds:.1f} s", flush=True)
    print(f"lab down; results: {out / 'results.json'}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
