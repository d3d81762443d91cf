"""The ``qlop`` root command: a lazy group that imports a subcommand's module only when it runs.

``qlop --help`` and ``qlop --version`` import no plugin and none of pandas, numpy, pyarrow, xgboost,
sklearn, onnx or streamlit (a test checks this in a subprocess). Plugin commands are resolved through
the command registry when invoked, and listed in ``--help`` from the index (:mod:`qlop.cli.help_index`)
written by the last full discovery under the same plugin options.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import click

from qlop import __version__

#: Built-in commands: name -> ("module:attribute", one-line summary shown by --help).
BUILTIN_COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("qlop.cli.run:run_cmd", "Run the configured stages into a run directory."),
    "demo": ("qlop.cli.run:demo_cmd", "Run the quickstart pipeline on the embedded dataset."),
    "data": ("qlop.cli.data:cli", "Load and inspect OHLCV market data."),
    "features": ("qlop.cli.features:cli", "Build features and leverage-opportunity labels."),
    "train": ("qlop.cli.train:train_cmd", "Walk-forward training and out-of-sample predictions."),
    "predict": ("qlop.cli.train:predict_cmd", "Score features with a trained model or an exported bundle."),
    "backtest": ("qlop.cli.backtest:backtest_cmd", "Backtest a strategy with leverage, margin and costs."),
    "export": ("qlop.cli.export:export_cmd", "Export the trained model (ONNX, native, predictions)."),
    "sweep": ("qlop.cli.sweep:sweep_cmd", "Run a config over a grid of values as Dask tasks (sweep)."),
    "runs": ("qlop.cli.runs:cli", "List and summarise run directories."),
    "config": ("qlop.cli.config:cli", "Validate configs and print their JSON Schema."),
    "plugins": ("qlop.cli.plugins:cli", "List, inspect and diagnose plugins."),
    "ws": ("qlop.cli.ws:cli", "The live-event relay: serve and tail."),
    "gui": ("qlop.cli.gui:gui_cmd", "Start the Streamlit GUI (and its relay)."),
}


@dataclass
class CliState:
    """Global options, shared with every subcommand through ``ctx.obj``."""

    verbose: int = 0
    no_plugins: bool = False
    modules: list[str] = field(default_factory=list)
    plugins_dir: str | None = None
    stream_to_ws: str | None = None
    ws_url: str | None = None


def _import_target(target: str) -> Any:
    import importlib

    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _plugin_command_index(ctx: click.Context) -> dict[str, str] | None:
    """Plugin commands (name -> summary) that exist under this invocation's plugin options, from the
    index; None when no discovery under those options has been recorded yet. Imports no plugin."""
    from qlop.cli import help_index

    state = _cli_state(ctx)
    selection = help_index.selection_from_options(state.no_plugins, state.modules, state.plugins_dir)
    commands = help_index.read(selection)
    if commands is None and not help_index.may_add_commands(selection):
        return {}
    return None if commands is None else {n: s for n, s in commands.items() if n not in BUILTIN_COMMANDS}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(BUILTIN_COMMANDS) + sorted(_plugin_command_index(ctx) or {})

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        """``--help`` is eager, so click would print help before the other root options are read; here
        it only asks for help, printed in :meth:`parse_args` once every option is known, so the plugin
        commands listed are those of ``qlop --no-plugins --help`` as much as of ``qlop --help --no-plugins``."""
        option = super().get_help_option(ctx)
        if option is not None and option.callback is not _request_help:
            option.callback = _request_help
        return option

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:  # bare `qlop`: the help is the answer, not an error
            click.echo(ctx.get_help(), color=ctx.color)
            ctx.exit()
        rest = super().parse_args(ctx, args)
        if ctx.meta.pop(_HELP_REQUESTED, False):
            click.echo(ctx.get_help(), color=ctx.color)
            ctx.exit()
        return rest

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in BUILTIN_COMMANDS:
            try:
                return _import_target(BUILTIN_COMMANDS[cmd_name][0])
            except ImportError as exc:  # e.g. an optional dependency missing: one line, not a traceback
                from qlop.errors import QlopError

                raise QlopError(f"command {cmd_name!r} is unavailable: {type(exc).__name__}: {exc}") from exc
        if ctx.resilient_parsing:
            return None
        return self._plugin_command(ctx, cmd_name)

    def _plugin_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from qlop.errors import PluginError

        registry = ensure_plugin_manager(ctx).registry("command")
        if cmd_name not in registry:
            return None
        try:
            command = registry.get(cmd_name).load()
        except PluginError:
            raise
        except Exception as exc:
            provider = registry.entry(cmd_name).plugin
            raise PluginError(f"command {cmd_name!r} of plugin {provider!r} failed to load: {exc}") from None
        if not isinstance(command, click.Command):
            raise PluginError(f"command {cmd_name!r} is not a click command")
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        """Click's resolution, plus a did-you-mean for a misspelled command."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            name = args[0] if args else ""
            if name and "No such command" in exc.message:
                import difflib

                close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
                if close:
                    exc.message = f"{exc.message} Did you mean {close[0]!r}?"
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Summaries come from the table above and the index, so help never imports a subcommand
        module or a plugin."""
        plugin_index = _plugin_command_index(ctx)
        rows = [(name, summary) for name, (_, summary) in BUILTIN_COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
        if plugin_index is None:
            with formatter.section("Plugin commands"):
                formatter.write_text(
                    "Not indexed yet for these plugin options: any command that loads plugins "
                    "(e.g. `qlop plugins list` with the same options) indexes them."
                )
        elif plugin_index:
            with formatter.section("Plugin commands"):
                formatter.write_dl([(n, s or "(plugin command)") for n, s in sorted(plugin_index.items())])

    def invoke(self, ctx: click.Context) -> Any:
        from_error = None
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except click.Abort:
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except Exception as exc:
            from_error = exc
        from qlop.errors import QlopError, file_error, is_environmental

        if is_environmental(from_error):  # permissions, space, paths: the machine's state, not a bug
            from_error = file_error(from_error, action="use")  # type: ignore[arg-type]
        verbose = bool(_cli_state(ctx).verbose)
        if isinstance(from_error, QlopError):
            if verbose:
                raise from_error
            click.echo(f"Error: {from_error}", err=True)
            ctx.exit(from_error.exit_code)
        raise from_error  # a bug: keep the traceback


_HELP_REQUESTED = "qlop.help_requested"


def _request_help(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        ctx.meta[_HELP_REQUESTED] = True


def _cli_state(ctx: click.Context | None) -> CliState:
    """The global options. Click resolves a subcommand *before* the root callback stores ``ctx.obj``,
    so while a plugin command is being looked up they are read from the root's parsed params."""
    if ctx is None:
        return CliState()
    state = ctx.find_object(CliState)
    if state is not None:
        return state
    params = ctx.find_root().params
    return CliState(
        verbose=params.get("verbose") or 0,
        no_plugins=bool(params.get("no_plugins")),
        modules=list(params.get("modules") or ()),
        plugins_dir=params.get("plugins_dir"),
    )


def ensure_plugin_manager(ctx: click.Context | None = None) -> Any:
    """The process-wide plugin manager, configured from the global options on first use."""
    from qlop.plugins import manager as manager_mod

    if manager_mod.configured() is None:
        state = _cli_state(ctx)
        from qlop.plugins.discovery import Selection

        manager_mod.configure(
            Selection.from_env(no_plugins=state.no_plugins, modules=state.modules, plugins_dir=state.plugins_dir)
        )
        manager = manager_mod.get_plugin_manager()
        remember_plugin_commands(manager)
        return manager
    return manager_mod.get_plugin_manager()


def remember_plugin_commands(manager: Any) -> None:
    """Record, for ``--help`` under the same options, the commands a full discovery found (built
    without importing a command)."""
    from qlop.cli import help_index

    registry = manager.registry("command")
    help_index.write(manager.selection, {e.spec.name: e.spec.summary for e in registry.entries()})


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="qlop")
@click.option("-v", "--verbose", count=True, help="More logging; show tracebacks on errors.")
@click.option("--no-plugins", is_flag=True, help="Load no third-party plugins (bundled ones still load).")
@click.option("-p", "modules", multiple=True, metavar="MODULE", help="Load MODULE as a plugin (repeatable).")
@click.option(
    "--plugins-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Load every *.py in DIR as a plugin (never done unless asked; also QLOP_PLUGINS_DIR).",
)
@click.option(
    "--stream-to-ws",
    "stream_to_ws",
    metavar="TASK_ID",
    default=None,
    help="Publish this command's events live to the relay under TASK_ID.",
)
@click.option(
    "--ws-url",
    default=None,
    metavar="URL",
    help="Relay URL (default ws://127.0.0.1:8765, or QLOP_WS_URL); token from QLOP_WS_TOKEN.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    verbose: int,
    no_plugins: bool,
    modules: tuple[str, ...],
    plugins_dir: str | None,
    stream_to_ws: str | None,
    ws_url: str | None,
) -> None:
    """QLOP: when would a leveraged trade have paid off, can a model predict it, and what would trading
    it have earned after leverage, margin, financing and costs?

    Start with `qlop demo`, then `qlop run -c CONFIG`.
    """
    ctx.obj = CliState(
        verbose=verbose,
        no_plugins=no_plugins,
        modules=list(modules),
        plugins_dir=plugins_dir,
        stream_to_ws=stream_to_ws,
        ws_url=ws_url,
    )
    if verbose:
        import logging

        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
        )


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="qlop")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
