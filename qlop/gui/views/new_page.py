"""New run page: build a config from the plugin registries (or paste one), validate, launch.

Every choice lists the names in the plugin registries, and each chosen plugin's form comes from its
params model's JSON Schema, so a third-party plugin appears here with no GUI change. The config is
validated with the same rules and messages as ``qlop config validate`` before the launch button is
enabled.
"""

from __future__ import annotations

import itertools
from typing import Any

import streamlit as st

from qlop.config import BacktestConfig, DataConfig, FeaturesConfig, ModelConfig, ValidationConfig
from qlop.errors import QlopError
from qlop.gui import forms
from qlop.gui.configs import FORMATS, format_of, validate_data, validate_text

#: Form defaults: a small, quick run on the embedded sample data. Names that no installed plugin
#: provides fall back to the registry's first name.
DEFAULTS: dict[str, Any] = {
    "data_source": "sample",
    "tickers": ["AAPL", "MSFT", "JPM"],
    "start_date": "2008-01-01",
    "end_date": "2014-12-31",
    "feature_steps": ["returns", "rsi"],
    "label": "leverage_opportunity",
    "model": "xgboost",
    "strategy": "probability_threshold",
    "exporter": "onnx",
}

SECTION_KINDS = (("label", "label"), ("model", "model"), ("backtest", "strategy"), ("export", "exporter"))


def _names(kind: str) -> list[str]:
    from qlop.plugins.manager import get_plugin_manager

    return get_plugin_manager().registry(kind).names()


def _summary(kind: str, name: str) -> str:
    from qlop.plugins.manager import get_plugin_manager

    try:
        entry = get_plugin_manager().registry(kind).entry(name)
    except QlopError:
        return ""
    return f"{entry.spec.summary} (plugin {entry.plugin} {entry.version or ''})".strip()


def _spec_fields(kind: str, name: str) -> list[forms.FieldSpec]:
    from qlop.plugins.manager import get_plugin_manager

    spec = get_plugin_manager().registry(kind).get(name)
    return forms.schema_fields(forms.params_schema(spec))


def plugin_choice(kind: str, label: str, key: str, default: str | None, box: Any, path: str,
                  errors: list[str]) -> tuple[str | None, dict[str, Any]]:
    """A selectbox of ``kind`` names plus the chosen plugin's generated params form."""
    names = _names(kind)
    if not names:
        box.warning(f"No {kind.replace('_', ' ')} plugin is installed.")
        return None, {}
    index = names.index(default) if default in names else 0
    name = box.selectbox(label, names, index=index, key=key, help=f"Installed {kind.replace('_', ' ')} plugins")
    box.caption(_summary(kind, name))
    try:
        fields = _spec_fields(kind, name)
    except Exception as exc:  # a broken params model must not take the page down
        errors.append(f"{path}: cannot load the params model of {name!r}: {exc}")
        return name, {}
    with box.expander(f"{name} parameters", expanded=False):
        params, errs = forms.render_fields(fields, f"{key}.{name}", path)
    errors.extend(errs)
    return name, params


def _section_fields(model: type, exclude: set[str]) -> list[forms.FieldSpec]:
    return forms.schema_fields(model.model_json_schema(), exclude=exclude)


def feature_steps(errors: list[str]) -> list[dict[str, Any]]:
    """The ordered feature-step list: add, remove, choose a plugin and its params per step."""
    state = st.session_state
    if "qlop_steps" not in state:
        names = _names("feature_step")
        defaults = [n for n in DEFAULTS["feature_steps"] if n in names] or names[:1]
        state.qlop_step_counter = itertools.count()
        state.qlop_steps = [(next(state.qlop_step_counter), n) for n in defaults]
    steps = []
    for position, (step_id, default) in enumerate(list(state.qlop_steps)):
        box = st.container(border=True)
        head, remove = box.columns([6, 1])
        name, params = plugin_choice("feature_step", f"Step {position + 1}", f"step{step_id}", default, head,
                                     f"features.steps.{position}.step_params", errors)
        if remove.button("Remove", key=f"remove{step_id}", help="Remove this feature step"):
            state.qlop_steps = [s for s in state.qlop_steps if s[0] != step_id]
            st.rerun()
        if name:
            steps.append({"step_type": name, "step_params": params})
    names = _names("feature_step")
    if st.button("Add feature step", key="add_step", disabled=not names,
                 help=None if names else "No feature-step plugin is installed"):
        state.qlop_steps = [*state.qlop_steps, (next(state.qlop_step_counter), names[0] if names else "")]
        st.rerun()
    return steps


def form_config(errors: list[str]) -> dict[str, Any]:
    """Draw the form; return the config data it describes."""
    data: dict[str, Any] = {}
    top = st.columns(3)
    data["name"] = top[0].text_input("Run name", value="gui-run", key="run_name")
    data["seed"] = int(top[1].number_input("Seed", value=42, step=1, key="seed"))

    st.subheader("Data")
    source, source_params = plugin_choice("data_source", "Data source", "data_source", DEFAULTS["data_source"],
                                          st, "data.data_source_params", errors)
    current = {"tickers": DEFAULTS["tickers"], "start_date": DEFAULTS["start_date"], "end_date": DEFAULTS["end_date"]}
    fields = _section_fields(DataConfig, {"data_source_type", "data_source_params"})
    values, errs = forms.render_fields(fields, "data", "data", current=current)
    errors.extend(errs)
    data["data"] = {"data_source_type": source, "data_source_params": source_params, **values}

    st.subheader("Features")
    steps = feature_steps(errors)
    values, errs = forms.render_fields(_section_fields(FeaturesConfig, {"steps"}), "features", "features")
    errors.extend(errs)
    data["features"] = {"steps": steps, **values}

    for section, kind in SECTION_KINDS:
        st.subheader(section.capitalize())
        if not st.checkbox(f"Include the {section} stage", value=True, key=f"include_{section}"):
            continue
        label = {"label": "Label", "model": "Model", "strategy": "Strategy", "exporter": "Exporter"}[kind]
        type_key, params_key = {
            "label": ("label_type", "label_params"), "model": ("model_type", "model_params"),
            "backtest": ("strategy_type", "strategy_params"), "export": ("format_name", "format_params"),
        }[section]
        name, params = plugin_choice(kind, label, kind, DEFAULTS[kind], st, f"{section}.{params_key}", errors)
        if name is None:
            errors.append(f"{section}.{type_key}: no {kind} plugin is installed; untick "
                          f"'Include the {section} stage'")
            continue
        section_data: dict[str, Any] = {type_key: name, params_key: params}
        if section == "model":
            with st.expander("Validation (walk-forward)", expanded=True):
                values, errs = forms.render_fields(forms.schema_fields(ValidationConfig.model_json_schema()),
                                                   "validation", "model.validation")
            errors.extend(errs)
            section_data["validation"] = values
            values, errs = forms.render_fields(
                _section_fields(ModelConfig, {"model_type", "model_params", "validation"}), "model", "model")
            errors.extend(errs)
            section_data.update(values)
        elif section == "backtest":
            with st.expander("Capital, leverage and costs", expanded=False):
                values, errs = forms.render_fields(
                    _section_fields(BacktestConfig, {"strategy_type", "strategy_params"}), "backtest", "backtest")
            errors.extend(errs)
            section_data.update(values)
        data[section] = section_data
    return data


def pasted_config() -> tuple[str | None, str, str]:
    """(text, format, source name) from the paste box or an uploaded file."""
    upload = st.file_uploader("Upload a config file", type=["toml", "json", "yaml", "yml"], key="upload")
    if upload is not None:
        return upload.getvalue().decode("utf-8", errors="replace"), format_of(upload.name), upload.name
    fmt = st.selectbox("Format", FORMATS, key="paste_format")
    text = st.text_area("Paste a config (TOML, JSON or YAML)", height=300, key="paste_text")
    return (text or None), fmt, "<pasted config>"


def launch(config: Any) -> None:
    """Write the config, start ``qlop run`` streaming to the relay, and go to the live page."""
    from qlop.gui.configs import write_config
    from qlop.gui.launcher import new_run_dir, new_task_id
    from qlop.gui.settings import settings
    from qlop.gui.state import task_registry
    from qlop.layout import gui_launch_config

    cfg = settings()
    task_id = new_task_id()
    config_path = write_config(config, gui_launch_config(cfg.runs_dir, task_id))
    run_dir = new_run_dir(cfg.runs_dir, task_id)
    task_registry().launch(config_path, run_dir, cfg.ws_url, cfg.token, task_id=task_id, global_args=cfg.run_args)
    from qlop.gui.app import page

    st.switch_page(page("live"), query_params={"task": task_id})


def render() -> None:
    st.title("New run")
    mode = st.radio("Config", ["Build with the form", "Paste or upload a file"], horizontal=True, key="mode")
    errors: list[str] = []
    config = None
    if mode == "Build with the form":
        data = form_config(errors)
        if not errors:
            try:
                config = validate_data(data, "<form>")
            except QlopError as exc:
                errors.append(str(exc))
    else:
        text, fmt, source = pasted_config()
        if text is None:
            st.info("Paste a config or upload a file to validate it.")
            return
        try:
            config = validate_text(text, fmt, source)
        except QlopError as exc:
            errors.append(str(exc))
    st.divider()
    if errors:
        for message in errors:
            st.error(f"Error: {message}", icon=":material/error:")
    else:
        stages = [s for s in ("data", "features", "label", "model", "backtest", "export") if getattr(config, s)]
        st.success(f"Config valid ({', '.join(stages)})", icon=":material/check_circle:")
        with st.expander("Config as JSON"):
            st.json(config.model_dump(mode="json"), expanded=False)
    if st.button("Launch run", type="primary", disabled=bool(errors), key="launch"):
        launch(config)
