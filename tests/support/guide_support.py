"""The getting-started guides as something to run: their fenced blocks, and a shell that runs them
in order the way a reader types them (tests/e2e/test_guides.py).

A guide's fences, and the HTML comment right before a fence (invisible once rendered), say what
each block is:

- ```sh: commands, run in order in one scratch home. No command may fail, unless the block is
  preceded by `<!-- exit: N -->`: then exactly one command fails, with exit code N
  (`<!-- exit: 0 or 3 -->`: either nothing fails, or one command exits 3).
- `<!-- illustrative: why -->` before a ```sh block: not run (it needs the reader's own machine,
  or a component the test does not start); its `mlops` commands must still parse.
- ```text or ```json right after a block that ran: its output. Each line must be in what the
  block printed, up to timings, dates, git commits, table widths and the scratch home
  (`/home/you`); a `...` line stands for lines left out, `...` in a line for any text (a
  latency). `<!-- illustrative: why -->` before it: not compared.
- `<!-- apply: FILE -->` before a ```yaml block: the reader edits FILE by hand; the harness does
  it for them: each top-level key of the block replaces that section of FILE (or is added).
- Any other fence (```yaml, ```groovy, ...) is shown, not run. A fence without an info string is
  an error: a block must say what it is.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[2]
SHELL_INFOS = ("sh", "bash")
OUTPUT_INFOS = ("text", "json")
MARKER = re.compile(r"^<!--\s*(?P<kind>illustrative|exit|apply):\s*(?P<value>.*?)\s*-->$")
BLOCK_TIMEOUT = 1800  # one block may train, package and roll out several versions


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    section: str  # the heading above it
    info: str  # the fence's info string
    text: str
    marker: tuple[str, str] | None  # ("illustrative", why) | ("exit", "1") | ("apply", "mlops.yaml")

    @property
    def runs(self) -> bool:
        return self.info in SHELL_INFOS and not self.illustrative

    @property
    def illustrative(self) -> bool:
        return self.marker is not None and self.marker[0] == "illustrative"

    def where(self, guide: Path) -> str:
        return f"{guide.name}:{self.line} ({self.section})"

    def exit_codes(self) -> set[int]:
        """The exit codes the block may end with: {0} unless an `exit:` marker says otherwise."""
        if self.marker is None or self.marker[0] != "exit":
            return {0}
        return {int(code) for code in self.marker[1].split(" or ")}

    def command_at(self, line: int) -> str:
        """The block's line `line` (1-based, as bash counts it), for a message."""
        lines = self.text.splitlines()
        return lines[line - 1].strip() if 0 < line <= len(lines) else f"line {line}"


def guide_blocks(guide: Path) -> list[Block]:
    """Every fenced block of the guide, in order; a malformed marker or fence raises ValueError."""
    blocks: list[Block] = []
    lines = guide.read_text(encoding="utf-8").splitlines()
    section, index = "", 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        elif line.startswith("```"):
            start, info = index, line[3:].strip()
            end = next((i for i in range(index + 1, len(lines)) if lines[i].rstrip() == "```"), None)
            if end is None:
                raise ValueError(f"{guide.name}:{start + 1}: the fence is never closed")
            if not info:
                raise ValueError(f"{guide.name}:{start + 1}: a fence needs an info string (sh, text, json, yaml, ...)")
            blocks.append(Block(start + 1, section, info, "\n".join(lines[start + 1:end]) + "\n", _marker(guide, lines, start)))
            index = end
        index += 1
    return blocks


def _marker(guide: Path, lines: list[str], fence: int) -> tuple[str, str] | None:
    before = next((lines[i].strip() for i in range(fence - 1, -1, -1) if lines[i].strip()), "")
    if not before.startswith("<!--"):
        return None
    match = MARKER.match(before)
    if match is None or not match.group("value"):
        raise ValueError(f"{guide.name}:{fence + 1}: {before!r} is not a block marker "
                         "(<!-- illustrative: why -->, <!-- exit: N -->, <!-- apply: FILE -->)")
    return match.group("kind"), match.group("value")


def outputs(blocks: list[Block]) -> dict[int, Block]:
    """The output block of each shell block that has one: the next block, when it is text or json."""
    return {
        block.line: following
        for block, following in zip(blocks, blocks[1:])
        if block.info in SHELL_INFOS and following.info in OUTPUT_INFOS
    }


# --------------------------------------------------------------------------- mlops commands in a block


SEPARATORS = set(";&|()")
REDIRECTS = set("<>")
ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")


def mlops_calls(script: str) -> list[list[str]]:
    """The arguments of every `mlops ...` command of a shell script, redirections left out."""
    calls: list[list[str]] = []
    heredoc = None
    for line in script.replace("\\\n", " ").splitlines():
        if heredoc is not None:  # a heredoc's body is text, not commands
            heredoc = None if line.strip() == heredoc else heredoc
            continue
        if match := re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line):
            heredoc = match.group(1)
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        current: list[str] | None = None
        at_command, redirect_target = True, False
        for token in lexer:
            if redirect_target:
                redirect_target = False
            elif set(token) & REDIRECTS and set(token) <= SEPARATORS | REDIRECTS:
                if current and current[-1].isdigit():
                    current.pop()  # the `2` of `2>/dev/null`
                redirect_target = not token.endswith("&")
            elif set(token) <= SEPARATORS:
                if current is not None:
                    calls.append(current)
                current, at_command = None, True
            elif current is not None:
                current.append(token)
            elif at_command and token == "mlops":
                current = []
            elif not ASSIGNMENT.match(token):
                at_command = False
        if current is not None:
            calls.append(current)
    return calls


def check_parses(args: list[str], cwd: Path) -> str | None:
    """Why click refuses `mlops ARGS` (unknown command, option or value), or None; nothing runs.

    A path that must exist is accepted when missing: an earlier, illustrative step makes it."""
    from mlops_helpers.cli import main

    previous = Path.cwd()
    os.chdir(cwd)
    try:
        command: click.Command = main
        ctx = command.make_context("mlops", list(args))
        while isinstance(command, click.Group):
            # click keeps the subcommand's words in _protected_args until it invokes the group
            pending = [*getattr(ctx, "_protected_args", []), *ctx.args]
            if not pending:
                break
            name, sub, rest = command.resolve_command(ctx, pending)
            assert name is not None and sub is not None
            command, ctx = sub, sub.make_context(name, rest, parent=ctx)
    except click.BadParameter as exc:
        if isinstance(getattr(exc.param, "type", None), click.Path):
            return None
        return exc.format_message()
    except click.exceptions.Exit:
        return None  # --help, --version
    except click.UsageError as exc:
        return exc.format_message()
    finally:
        os.chdir(previous)
    return None


# --------------------------------------------------------------------------- the reader's shell


@dataclass
class Ran:
    failed: list[tuple[int, int]]  # (line in the block, exit code) of each command that failed
    stdout: str
    stderr: str
    seconds: float

    def tail(self, lines: int = 40) -> str:
        shown = [f"--- stdout ({self.seconds:.0f}s)", *self.stdout.splitlines()[-lines:],
                 "--- stderr", *self.stderr.splitlines()[-lines:]]
        return "\n".join(shown)


# Before a block: the folder, exported and shell variables of the blocks before. After it: the
# same, saved, and the pids of its background jobs. Each failing command is recorded by line.
PRELUDE = """\
cd "$(< "$GUIDE_STATE/cwd")"
compgen -v > "$GUIDE_STATE/baseline"
source "$GUIDE_STATE/env" 2>/dev/null || true
source "$GUIDE_STATE/vars" 2>/dev/null || true
__save() {{ pwd > "$GUIDE_STATE/cwd"; export -p > "$GUIDE_STATE/env"; jobs -p >> "$GUIDE_STATE/jobs"
  for __name in $(compgen -v | grep -vxF -f "$GUIDE_STATE/baseline" | grep -v '^__'); do declare -p "$__name"; done > "$GUIDE_STATE/vars"; }}
set -o pipefail
trap '__code=$?; echo "$((LINENO - {offset})) $__code" >> "$GUIDE_STATE/failed"' ERR
trap __save EXIT
"""


@dataclass
class GuideShell:
    """One reader's shell: each block runs in a new bash that starts in the folder and with the
    variables the previous block left (what a terminal keeps between commands; not its job table:
    `kill %1` does not work across blocks, `pid=$!` ... `kill $pid` does). Commands go on after a
    failure, as typed ones do; each failure is recorded with its exit code.

    With `own_network`, every block runs in a network namespace of its own (a loopback only), so
    the ports a guide names (8000, 8001) are free whatever else runs on the machine."""

    home: Path
    env: dict[str, str]
    own_network: bool = False
    _state: Path = field(init=False)
    _holder: subprocess.Popen[bytes] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._state = self.home.parent / "shell-state"
        self._state.mkdir(parents=True)
        (self._state / "cwd").write_text(str(self.home))
        (self._state / "env").write_text("")
        if self.own_network:
            rootless = ["--user", "--map-root-user"] if os.geteuid() != 0 else []
            self._holder = subprocess.Popen(["unshare", *rootless, "--net", "sh", "-c", "ip link set lo up && echo up && exec sleep infinity"],
                                            stdout=subprocess.PIPE)
            assert self._holder.stdout is not None
            if self._holder.stdout.readline() != b"up\n":  # the loopback is up before the first block
                raise RuntimeError("unshare --net failed: the guide needs a network namespace of its own for ports 8000/8001")

    def cwd(self) -> Path:
        """Where the reader is now."""
        return Path((self._state / "cwd").read_text().strip())

    def run(self, block: Block, number: int) -> Ran:
        script = self._state / f"block-{number}.sh"
        prelude = PRELUDE.format(offset=PRELUDE.count("\n"))
        script.write_text(prelude + block.text)
        (self._state / "failed").write_text("")
        out, err = self._state / f"block-{number}.out", self._state / f"block-{number}.err"
        command = ["bash", str(script)]
        if self._holder is not None:
            userns = ["--user", "--preserve-credentials"] if os.geteuid() != 0 else []
            command = ["nsenter", "--target", str(self._holder.pid), *userns, "--net", *command]
        started = time.monotonic()
        # Files, not pipes: a block may leave a job running in the background (`... &`).
        with out.open("wb") as stdout, err.open("wb") as stderr:
            subprocess.run(command, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, timeout=BLOCK_TIMEOUT,
                           env={**self.env, "GUIDE_STATE": str(self._state)})
        failed = [line.split() for line in (self._state / "failed").read_text().splitlines()]
        return Ran([(int(line), int(code)) for line, code in failed], out.read_text(errors="replace"),
                   err.read_text(errors="replace"), time.monotonic() - started)

    def close(self) -> None:
        """Stop what the blocks left running: background jobs, and every process in the namespace."""
        jobs = self._state / "jobs"
        pids = {int(pid) for pid in jobs.read_text().split()} if jobs.is_file() else set()
        if self._holder is not None:
            pids |= _processes_in_network_of(self._holder.pid) - {self._holder.pid}
        for pid in pids:
            _kill(pid)
        if self._holder is not None:
            self._holder.kill()
            self._holder.communicate()


def _processes_in_network_of(pid: int) -> set[int]:
    namespace = os.stat(f"/proc/{pid}/ns/net").st_ino
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.stat(entry / "ns" / "net").st_ino == namespace:
                    found.add(int(entry.name))
            except OSError:
                continue  # gone, or not ours to look at
    return found


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def reader_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A fresh terminal of a reader who ran `source .venv/bin/activate`: the checkout's venv first on
    PATH, HOME in the scratch folder, none of this machine's mlops settings."""
    dropped = ("MLOPS_", "DOCKER_", "KUBECONFIG", "XDG_", "VIRTUAL_ENV", "PYTEST_", "GIT_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    venv_bin = str(Path(sys.executable).parent)
    env.update(HOME=str(home), PATH=f"{venv_bin}:{env.get('PATH', '/usr/bin:/bin')}", VIRTUAL_ENV=str(Path(venv_bin).parent))
    return {**env, **(extra or {})}


def make_home(root: Path) -> Path:
    """A reader's home: git knows who they are, and the mlops checkout is ~/mlops (the guide clones it there)."""
    home = root / "home"
    home.mkdir(parents=True)
    (home / ".gitconfig").write_text("[user]\n\tname = Guide Reader\n\temail = reader@example.com\n[init]\n\tdefaultBranch = main\n")
    (home / "mlops").symlink_to(REPO)
    return home


# --------------------------------------------------------------------------- editing a file as the reader would


def apply_yaml(path: Path, block: str) -> None:
    """Replace (or add) each top-level section of `block` in the YAML file, keeping the rest as written."""
    import yaml

    keys = list(yaml.safe_load(block))
    kept: list[str] = []
    skipping = False
    for line in path.read_text().splitlines():
        top = re.match(r"^([A-Za-z_][\w-]*):", line)
        if top:
            skipping = top.group(1) in keys
        elif line and not line[0].isspace() and not line.startswith("#"):
            skipping = False
        if not skipping:
            kept.append(line)
    path.write_text("\n".join(kept).rstrip("\n") + "\n\n" + block)


# --------------------------------------------------------------------------- comparing output


VARIABLE = [
    (re.compile(r"\(\d+(\.\d+)?s\)"), "(…s)"),  # stage timings
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?"), "<time>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b"), "<hex>"),  # git commits (and md5s)
    (re.compile(r"-{3,}"), "---"),  # table rules: as wide as their column
]


def normalise(text: str, home: Path) -> list[str]:
    text = text.replace(str(home), "/home/you")
    lines = []
    for line in text.splitlines():
        for pattern, stand_in in VARIABLE:
            line = pattern.sub(stand_in, line)
        if line.strip():
            lines.append(" ".join(line.split()))
    return lines


def missing_lines(expected: str, actual: str, home: Path) -> list[str]:
    """Lines of the documented output that the block did not print (whitespace runs are one space;
    `...` inside a line stands for any text, e.g. a latency)."""
    printed = normalise(actual, home)
    missing = []
    for line in normalise(expected, home):
        if line == "...":
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in line.split("...")))
        if not any(pattern.fullmatch(candidate) for candidate in printed):
            missing.append(line)
    return missing
