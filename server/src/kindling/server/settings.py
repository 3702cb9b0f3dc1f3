"""Where the settings of `kindling-probe serve` come from, in this order:
the command line, then KINDLING_* environment variables, then a YAML file
(--config or $KINDLING_CONFIG), then the defaults.

Every serve option is a setting: `--max-subscribers 100` is
KINDLING_MAX_SUBSCRIBERS=100 and `max-subscribers: 100` in the file. Values
from the environment and the file pass the same checks as the option's, and
a wrong one is a StartupError naming where it came from.
"""

from __future__ import annotations

import argparse
import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from kindling.server.errors import StartupError

ENV_PREFIX = "KINDLING_"
CONFIG_ENV = "KINDLING_CONFIG"
# The options that say where settings come from, or what to do with them.
NOT_SETTINGS = frozenset({"help", "config", "print_config"})
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
# A setting's value is short; a longer one is cut in messages.
_SHOWN = 64


# Option types that take comma lists (cli.py registers them).
_LISTS: set[object] = set()


def takes_lists(*types: object) -> None:
    _LISTS.update(types)


def settings_of(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The parser's settable options by name (`max-subscribers`)."""
    found: dict[str, argparse.Action] = {}
    for action in parser._actions:  # argparse has no public list
        long = [o for o in action.option_strings if o.startswith("--")]
        if long and action.dest not in NOT_SETTINGS:
            found[long[0][2:]] = action
    return found


def env_name(setting: str) -> str:
    return ENV_PREFIX + setting.upper().replace("-", "_")


def _convert(action: argparse.Action, value: object, where: str) -> Any:
    """The value as the option would have parsed it."""
    if action.nargs == 0:  # a switch (store_true)
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise StartupError(f"{where}: {str(value)[:_SHOWN]!r} is not true or false")
    if isinstance(value, list) and action.type in _LISTS:
        value = ",".join(map(str, value))  # the option's comma list
    if isinstance(value, (dict, list)) or value is None:
        raise StartupError(f"{where}: give one value")
    text = str(value)
    try:
        parsed = action.type(text) if callable(action.type) else text
    except (argparse.ArgumentTypeError, ValueError) as error:
        raise StartupError(f"{where}: {error}") from None
    if action.choices is not None and parsed not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise StartupError(f"{where}: {text[:_SHOWN]!r} is not one of {choices}")
    return parsed


def from_file(path: Path, settings: Mapping[str, argparse.Action]) -> dict[str, Any]:
    """The file's settings, by destination (`max_subscribers`)."""
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise StartupError(f"cannot read the config file {path} ({error.strerror})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise StartupError(f"the config file {path} is not valid YAML{at}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StartupError(f"the config file {path} must map setting names to values")
    values: dict[str, Any] = {}
    for key, value in document.items():
        name = str(key)
        action = settings.get(name)
        if action is None:
            close = difflib.get_close_matches(name, list(settings), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise StartupError(
                f"{path}: {name[:_SHOWN]!r} is not a setting{hint}; "
                "`kindling-probe serve --help` lists them"
            )
        values[action.dest] = _convert(action, value, f"{path}: {name}")
    return values


def from_environment(
    settings: Mapping[str, argparse.Action], environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """The settings given as KINDLING_* variables, by destination."""
    values: dict[str, Any] = {}
    for name, action in settings.items():
        variable = env_name(name)
        given = environ.get(variable)
        if given:
            values[action.dest] = _convert(action, given, variable)
    return values


def apply(
    parser: argparse.ArgumentParser, config: Path | None, environ: Mapping[str, str] = os.environ
) -> None:
    """Make the file's and the environment's settings the parser's defaults,
    so that options given on the command line still win."""
    settings = settings_of(parser)
    values: dict[str, Any] = {}
    path = config or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    if path is not None:
        values.update(from_file(path, settings))
    values.update(from_environment(settings, environ))
    parser.set_defaults(**values)


def as_yaml(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The settings in force, as a config file would give them."""
    shown: dict[str, Any] = {}
    for name, action in settings_of(parser).items():
        value = getattr(args, action.dest, None)
        if isinstance(value, Path):
            value = str(value)
        if action.dest == "speed" and value is None:
            value = "max"
        if isinstance(value, tuple):
            value = list(value)
        shown[name] = value
    return yaml.safe_dump(shown, sort_keys=False, default_flow_style=False)
