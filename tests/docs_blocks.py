"""The fenced code blocks of README.md, CONTRIBUTING.md and docs/, read one
way for every test that checks them, and the checks of shell commands.

A block is a *fragment* when the line right before its opening fence is
``<!-- fragment: why -->``: the tests skip it, and only it (CONTRIBUTING.md
says so to contributors). Every other block is run or checked.
"""
import contextlib
import io
import re
import shlex
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import List, Optional, Sequence

__all__ = ["Block", "ROOT", "PAGES", "blocks", "all_blocks", "commands",
           "check_command"]

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md",
         *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent

_FENCE = re.compile(r"^( *)```(\S*)\s*$")
FRAGMENT = re.compile(r"^\s*<!-- fragment: (\S.*?) -->\s*$")


@dataclass
class Block:
    path: Path
    #: the line of the opening fence, from 1
    line: int
    language: str
    #: the block's text, without the indentation of a list item
    text: str
    #: why it is a fragment, when it is marked as one
    fragment: Optional[str]

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path, language: Optional[str] = None) -> List[Block]:
    """The fenced blocks of ``path`` (of ``language`` only, if given)."""
    lines = path.read_text().splitlines()
    found = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, lang = match.groups()
        end = i + 1
        while end < len(lines) and lines[end].rstrip() != indent + "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{path.name}:{i + 1}: the block never ends")
        body = [line[len(indent):] if line.startswith(indent) else line.strip()
                for line in lines[i + 1:end]]
        marked = FRAGMENT.match(lines[i - 1]) if i else None
        found.append(Block(path, i + 1, lang, "\n".join(body) + "\n",
                           marked.group(1) if marked else None))
        i = end + 1
    if language is not None:
        found = [b for b in found if b.language == language]
    return found


def all_blocks() -> List[Block]:
    return [b for page in PAGES for b in blocks(page)]


def commands(text: str) -> List[List[str]]:
    """A shell block's commands as argv lists: comments, ``&`` and line
    continuations dealt with as the shell does."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        argv = shlex.split(line, comments=True)
        if argv and argv[-1] == "&":
            argv = argv[:-1]
        if argv:
            found.append(argv)
    return found


def _without_assignments(argv: Sequence[str]) -> List[str]:
    """``A=1 B=2 cmd args`` runs ``cmd args`` (with A and B set)."""
    argv = list(argv)
    while argv and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):
        argv.pop(0)
    return argv


def check_command(argv: Sequence[str]) -> None:
    """Raise AssertionError when a documented command would not work here:
    an unknown make target, extra, option, subcommand or file."""
    argv = _without_assignments(argv)
    if not argv:
        return  # an assignment alone
    name = Path(argv[0]).name
    args = argv[1:]
    if argv[0] == "export":
        return
    if name in ("python", "python3"):
        _check_python(args)
    elif name == "make":
        _check_make(args)
    elif name in ("pip", "pip3"):
        _check_pip(args)
    elif name == "chaostracing":
        _check_chaostracing(args)
    elif name == "chaos":
        _check_chaos(args)
    elif name == "mkdocs":
        assert args and args[0] in ("build", "serve"), argv
        assert (ROOT / "mkdocs.yml").exists()
    elif name == "echo":
        pass
    else:
        raise AssertionError(
            f"{' '.join(argv)!r}: the tests do not know how to check this "
            "command: run it in a test, teach tests/docs_blocks.py, or mark "
            "the block <!-- fragment: why -->")


def _check_python(args: List[str]) -> None:
    if args[:1] == ["-c"]:
        # run here (a process would cost the fast loop its speed)
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            code = compile(args[1], "python -c", "exec")
            exec(code, {"__name__": "__main__"})
        assert printed.getvalue(), "python -c printed nothing"
    elif args[:2] == ["-m", "pip"]:
        _check_pip(args[2:])
    elif args[:2] == ["-m", "pytest"]:
        for arg in args[2:]:
            if not arg.startswith("-"):
                assert (ROOT / arg.split("::")[0]).exists(), arg
    else:
        assert args and (ROOT / args[0]).is_file(), f"no script {args[:1]}"


def _check_make(args: List[str]) -> None:
    makefile = (ROOT / "Makefile").read_text()
    for arg in args:
        if "=" in arg or arg.startswith("-"):
            continue
        assert re.search(rf"^{re.escape(arg)}:", makefile, re.M), \
            f"no make target {arg!r}"


def _check_pip(args: List[str]) -> None:
    assert args[:1] == ["install"], args
    extras = set(metadata.metadata("chaostoolkit-opentracing")
                 .get_all("Provides-Extra") or ())
    for arg in args[1:]:
        if arg.startswith("-"):
            continue
        match = re.match(r"^chaostoolkit-opentracing(?:\[(.*)\])?", arg)
        if match:
            named = {e.strip() for e in (match.group(1) or "").split(",")}
            assert named - {""} <= extras, f"unknown extras in {arg}"
        elif arg.startswith(".") or "/" in arg:
            assert (ROOT / arg).exists(), arg
        else:
            assert arg in ("pip", "chaostoolkit"), f"pip install {arg}?"


def _check_chaostracing(args: List[str]) -> None:
    from chaostracing import cli

    try:
        cli._parser().parse_args(args)
    except SystemExit as exit:
        raise AssertionError(f"chaostracing {' '.join(args)}: {exit}") from None


def _check_chaos(args: List[str]) -> None:
    """Every option is one of the command's, the subcommand exists,
    ``--var`` values are chaoslib's ``key[:type]=value``."""
    from chaoslib import convert_vars
    from chaostoolkit.cli import cli

    def options(command):
        return {opt for p in command.params
                for opt in (*p.opts, *getattr(p, "secondary_opts", ()))}

    command, known, i = cli, options(cli), 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-"):
            option = arg.split("=", 1)[0]
            assert option in known, f"chaos: unknown option {option}"
            param = next(p for p in command.params if option in p.opts
                         or option in getattr(p, "secondary_opts", ()))
            if not getattr(param, "is_flag", False) and "=" not in arg:
                i += 1
                if option == "--var":
                    convert_vars([args[i]])
        elif command is cli:
            command = cli.get_command(None, arg)
            assert command is not None, f"chaos: no command {arg!r}"
            known = options(command)
        i += 1
    assert command is not cli, "chaos: no command"
