"""Agent adapters: declared presets (argv, resume argv, event format) and event readers.

A preset is data: the argv template of a fresh run, the argv template of a resume, and
the name of the event format its stdout speaks. Templates are argv lists whose elements
may contain {prompt}, {prompt_file}, {session_id}, {hook}, {worktree}; they are filled in
element by element and run without a shell, so a prompt or bead text is never parsed by
one. Presets are overridden (or new agents declared) in .gastown.toml and in the user
config file, under [agents.<name>]: command, resume, args (appended), format, env.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from git_gastown.errors import UsageError

FORMATS = ("claude", "codex", "gemini", "text", "shell")
PLACEHOLDERS = ("prompt", "prompt_file", "session_id", "hook", "worktree")


@dataclass(frozen=True)
class Preset:
    name: str
    command: tuple[str, ...]
    resume: tuple[str, ...] = ()  # empty: the agent cannot resume; a fresh run gets the handoff
    format: str = "text"
    args: tuple[str, ...] = ()  # appended to command and resume
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def resumable(self) -> bool:
        return bool(self.resume)

    def argv(self, values: Mapping[str, str], *, resume: bool = False) -> list[str]:
        """The argv of a run (RESUME: of a resume), placeholders filled element by element."""
        template = self.resume if resume and self.resume else self.command
        if not template:
            raise UsageError(f"agent {self.name} has no command",
                             hint=f"set [agents.{self.name}] command = [...] in .gastown.toml")
        out = []
        for part in (*template, *self.args):
            try:
                out.append(part.format_map(_Strict(values)))
            except (KeyError, ValueError, IndexError) as exc:
                raise UsageError(
                    f"agent {self.name}: bad placeholder in {part!r}",
                    hint=f"use only {{{'}, {'.join(PLACEHOLDERS)}}} (double braces for literal)",
                ) from exc
        return out


class _Strict(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


BUILTIN: dict[str, Preset] = {
    "shell": Preset("shell", ("sh", "-c"), format="shell"),
    "claude": Preset(
        "claude",
        ("claude", "-p", "{prompt}", "--output-format", "stream-json", "--verbose"),
        resume=("claude", "-p", "{prompt}", "--resume", "{session_id}",
                "--output-format", "stream-json", "--verbose"),
        format="claude",
    ),
    "codex": Preset(
        "codex",
        ("codex", "exec", "--json", "{prompt}"),
        resume=("codex", "exec", "--json", "resume", "{session_id}", "{prompt}"),
        format="codex",
    ),
    "gemini": Preset(
        "gemini", ("gemini", "-p", "{prompt}", "--output-format", "stream-json"), format="gemini",
    ),
    "aider": Preset(
        "aider", ("aider", "--yes-always", "--message-file", "{prompt_file}"),
        # aider keeps its history in the worktree; no session id is needed to go on.
        resume=("aider", "--yes-always", "--restore-chat-history", "--message-file",
                "{prompt_file}"),
        format="text",
    ),
    "copilot": Preset("copilot", ("copilot", "-p", "{prompt}", "--allow-all-tools"),
                      format="text"),
    # A template for any other program: declare [agents.command] command = [...].
    "command": Preset("command", (), format="text"),
}


def user_config_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("git-gastown")) / "config.toml"


def _load_user_agents() -> dict[str, Any]:
    path = user_config_path()
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}", hint="fix the file") from exc
    agents = data.get("agents", {})
    return agents if isinstance(agents, dict) else {}


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        raise UsageError(f"{where} must be a list of arguments, not a string",
                         hint='e.g. command = ["my-agent", "--prompt", "{prompt}"]')
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where} must be a list of strings")
    return tuple(value)


def _apply(preset: Preset, table: Mapping[str, Any], where: str) -> Preset:
    changes: dict[str, Any] = {}
    for key in ("command", "resume", "args"):
        if key in table:
            changes[key] = _strings(table[key], f"{where}.{key}")
    if "format" in table:
        if table["format"] not in FORMATS:
            raise UsageError(f"{where}.format: unknown format {table['format']!r}",
                             hint=f"use one of: {', '.join(FORMATS)}")
        changes["format"] = table["format"]
    if "env" in table:
        env = table["env"]
        if not isinstance(env, dict):
            raise UsageError(f"{where}.env must be a table of strings")
        changes["env"] = {str(k): str(v) for k, v in env.items()}
    unknown = set(table) - {"command", "resume", "args", "format", "env"}
    if unknown:
        raise UsageError(f"{where}: unknown key {sorted(unknown)[0]!r}",
                         hint="keys are command, resume, args, format, env")
    return replace(preset, **changes)


def presets(repo_agents: Mapping[str, Any] | None = None) -> dict[str, Preset]:
    """Built-in presets, then [agents.*] of .gastown.toml, then of the user config."""
    result = dict(BUILTIN)
    for source, tables in (("agents", repo_agents or {}), ("user config agents",
                                                            _load_user_agents())):
        for name, table in tables.items():
            if not isinstance(table, dict):
                raise UsageError(f"[{source}.{name}] must be a table")
            if name == "shell":
                raise UsageError("the shell agent is built in and cannot be redefined",
                                 hint="declare your own agent under another name")
            base = result.get(name, Preset(name, ()))
            result[name] = _apply(base, table, f"{source}.{name}")
    return result


def resolve(name: str, repo_agents: Mapping[str, Any] | None = None) -> Preset:
    table = presets(repo_agents)
    if name not in table:
        raise UsageError(f"unknown agent {name!r}",
                         hint=f"use one of: {', '.join(sorted(table))}, or declare "
                         f"[agents.{name}] command = [...] in .gastown.toml")
    preset = table[name]
    if not preset.command:
        raise UsageError(f"agent {name} has no command",
                         hint=f"set [agents.{name}] command = [...] in .gastown.toml")
    return preset


# -- reading events ----------------------------------------------------------------------


@dataclass
class EventInfo:
    """What one event tells the runner."""

    type: str
    session_id: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    usage_total: bool = False  # the usage figures are totals for the run, not increments
    message_id: str = ""  # usage of this API message (repeated on each of its events)
    waiting: str | None = None  # "permission"/"input" when it waits; "" when it goes on
    error: str = ""


def parse_event(fmt: str, line: str) -> tuple[dict[str, Any], EventInfo]:
    """One stdout line as (event object for the transcript, what it tells the runner)."""
    stripped = line.rstrip("\n")
    if fmt in ("text", "shell"):
        return {"type": "gt.output", "text": stripped}, EventInfo("gt.output", waiting="")
    try:
        obj = json.loads(stripped)
    except json.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict):
        return {"type": "gt.output", "text": stripped}, EventInfo("gt.output")
    reader = {"claude": _claude, "codex": _codex, "gemini": _gemini}.get(fmt)
    info = reader(obj) if reader else EventInfo(str(obj.get("type", "")))
    return obj, info


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _claude(obj: Mapping[str, Any]) -> EventInfo:
    kind = str(obj.get("type", ""))
    sub = str(obj.get("subtype", ""))
    label = f"{kind}/{sub}" if sub else kind
    info = EventInfo(label, session_id=str(obj.get("session_id") or ""), waiting="")
    if kind == "control_request":
        request = obj.get("request") or {}
        if isinstance(request, dict) and request.get("subtype") == "can_use_tool":
            info.waiting = "permission"
        else:
            info.waiting = None
    elif kind == "assistant":
        # Each assistant event carries its API message's usage; Claude Code emits one event
        # per content block, all with the same message id and usage, so the runner counts
        # it once per id. Summed, these keep the tokens of a run killed before its result.
        message = obj.get("message") or {}
        if isinstance(message, dict):
            info.message_id = str(message.get("id") or "")
            _claude_usage(info, message.get("usage"))
    elif kind == "result":
        _claude_usage(info, obj.get("usage"))
        cost = obj.get("total_cost_usd")
        info.cost_usd = float(cost) if isinstance(cost, int | float) else 0.0
        info.usage_total = True
        if obj.get("is_error"):
            info.error = str(obj.get("result") or sub or "error")
    return info


def _claude_usage(info: EventInfo, usage: Any) -> None:
    if isinstance(usage, dict):
        info.input_tokens = (_int(usage.get("input_tokens"))
                             + _int(usage.get("cache_creation_input_tokens"))
                             + _int(usage.get("cache_read_input_tokens")))
        info.output_tokens = _int(usage.get("output_tokens"))


def _codex(obj: Mapping[str, Any]) -> EventInfo:
    kind = str(obj.get("type", ""))
    info = EventInfo(kind, waiting="")
    if kind == "thread.started":
        info.session_id = str(obj.get("thread_id") or "")
    elif kind == "turn.completed":
        usage = obj.get("usage") or {}
        if isinstance(usage, dict):
            info.input_tokens = _int(usage.get("input_tokens"))
            info.output_tokens = _int(usage.get("output_tokens"))
    elif kind in ("turn.failed", "error"):
        err = obj.get("error") or obj.get("message") or kind
        info.error = str(err.get("message") if isinstance(err, dict) else err)
    elif kind.startswith("item."):
        item = obj.get("item") or {}
        if isinstance(item, dict) and item.get("type") == "approval_request":
            info.waiting = "permission"
    return info


def _gemini(obj: Mapping[str, Any]) -> EventInfo:
    kind = str(obj.get("type", ""))
    info = EventInfo(kind, session_id=str(obj.get("session_id") or ""), waiting="")
    if kind == "result":
        # stats.input_tokens is the whole prompt (cached + input); output_tokens the rest.
        stats = obj.get("stats") or {}
        if isinstance(stats, dict):
            info.input_tokens = _int(stats.get("input_tokens") or stats.get("input"))
            info.output_tokens = _int(stats.get("output_tokens") or stats.get("output"))
        info.usage_total = True
        if obj.get("status") == "error":
            err = obj.get("error") or {}
            info.error = str((err.get("message") if isinstance(err, dict) else err) or "error")
    elif kind == "error" and obj.get("severity") != "warning":
        info.error = str(obj.get("message") or "error")  # a warning is not a failure
    return info


def agent_env(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """The environment an agent runs in: ours minus repository selectors, plus EXTRA."""
    from git_gastown.git import scrubbed_env

    env = scrubbed_env()
    env.update(base)
    env.update(extra)
    return env


def which(argv0: str, path: str | None = None) -> str | None:
    import shutil

    return shutil.which(argv0, path=path if path is not None else os.environ.get("PATH"))


def first_missing(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """The program of ARGV when it is not an executable file (a path) or cannot be found
    on env's PATH, else None."""
    prog = argv[0]
    if os.sep in prog:
        return None if os.path.isfile(prog) and os.access(prog, os.X_OK) else prog
    return None if which(prog, env.get("PATH")) else prog


# -- Claude Code's own session files ------------------------------------------------------
# `claude --resume ID` finds its session only in ~/.claude/projects/<encoded cwd>/ID.jsonl.
# The Hook keeps a copy (sessions/ID.jsonl), so a resume works after Claude Code pruned
# its transcripts, and on another clone or machine where the worktree path differs.


def claude_home(env: Mapping[str, str]) -> Path:
    configured = env.get("CLAUDE_CONFIG_DIR")
    if configured:
        return Path(configured)
    return Path(env.get("HOME") or os.path.expanduser("~")) / ".claude"


def claude_project_dir(env: Mapping[str, str], worktree: Path) -> Path:
    """Where Claude Code keeps the sessions of a working directory (its git root):
    the physical path with every character other than letters, digits and '-' as '-'."""
    import re

    encoded = re.sub(r"[^A-Za-z0-9-]", "-", os.path.realpath(worktree))
    return claude_home(env) / "projects" / encoded


def find_claude_session(env: Mapping[str, str], session_id: str) -> Path | None:
    if not session_id or "/" in session_id or session_id.startswith("."):
        return None
    found = sorted((claude_home(env) / "projects").glob(f"*/{session_id}.jsonl"),
                   key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def place_claude_session(env: Mapping[str, str], worktree: Path, session_id: str,
                         data: bytes | None) -> bool:
    """Make sure `claude --resume SESSION_ID` run in WORKTREE finds its session: copy it
    from another project dir of this machine, else write DATA (the Hook's copy)."""
    if not session_id or "/" in session_id or session_id.startswith("."):
        return False
    target = claude_project_dir(env, worktree) / f"{session_id}.jsonl"
    if target.exists():
        return True
    existing = find_claude_session(env, session_id)
    content = existing.read_bytes() if existing is not None else data
    if content is None:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".gt-tmp")
    tmp.write_bytes(content)
    os.replace(tmp, target)
    return True
