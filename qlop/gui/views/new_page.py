"""New run page: start from a shipped example, set the essentials up front, launch.

The form starts from the quickstart (``examples/quickstart.toml``); "Load example" starts it over
from any shipped example. The essential choices - universe, dates, the trade's leverage and barriers,
the model and the entry threshold - come first, with the validation verdict and the Launch button
right under them; every other setting waits in a section below. Every choice lists the names in the
plugin registries and each chosen plugin's form comes from its params model's JSON Schema, so a
third-party plugin appears here with no GUI change.

The config is validated with the same rules as ``qlop config validate``; each problem is shown next
to the field it concerns (and listed by the Launch button), and the tickers are checked against the
chosen data source before a launch.
"""

from __future__ import annotations

import itertools
from typing import Any

import streamlit as st

from qlop.config import BacktestConfig, DataConfig, FeaturesConfig, ModelConfig, ValidationConfig
from qlop.errors import QlopError
from qlop.gui import forms
from qlop.gui.configs import FORMATS, format_of
from qlop.gui.new_run import (
    BACKTEST_LEVERAGE,
    ESSENTIAL_LABEL_PARAMS,
    ESSENTIAL_STRATEGY_PARAMS,
    LABEL_LEVERAGE,
    Problem,
    anchor_for,
    config_problems,
    config_text,
    human_path,
    listed_ticker_problems,
    plain,
    probed_ticker_problems,
    relative_message,
    starting_config,
    ticker_problem,
)


def key_prefix() -> str:
    """Prefix of every widget key of the form. Loading an example moves the form to fresh keys
    (``form.``, ``form1.``, ``form2.``...): a browser keeps a widget's value under its key, so only a
    new key makes every widget start again from the example's values."""
    gen = st.session_state.get("qlop_form_gen", 0)
    return f"form{gen or ''}."


#: (section, plugin kind, type field, params field) of the plugin-backed sections after the data.
SECTIONS = (
    ("label", "label", "label_type", "label_params"),
    ("model", "model", "model_type", "model_params"),
    ("backtest", "strategy", "strategy_type", "strategy_params"),
    ("export", "exporter", "format_name", "format_params"),
)
KIND_LABELS = {
    "data_source": "Data source",
    "label": "Label",
    "model": "Model",
    "strategy": "Strategy",
    "exporter": "Exporter",
}


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


def _section_fields(
    model: type, names: tuple[str, ...] | None = None, exclude: frozenset[str] = frozenset()
) -> list[forms.FieldSpec]:
    fields = forms.schema_fields(model.model_json_schema(), exclude=exclude)
    if names is None:
        return fields
    by_name = {f.name: f for f in fields}
    return [by_name[n] for n in names if n in by_name]


class Anchors(dict):  # type: ignore[type-arg]
    """Field path -> the empty slot under its widget; remembers the section each was drawn in."""

    def __init__(self) -> None:
        super().__init__()
        self.region: str | None = None
        self.regions: dict[str, str | None] = {}

    def __setitem__(self, path: str, slot: Any) -> None:
        super().__setitem__(path, slot)
        self.regions[path] = self.region


class Form:
    """One drawing of the form: the config data it describes, where each field sits, what is wrong."""

    def __init__(self, start: dict[str, Any]) -> None:
        self.start = start
        self.anchors = Anchors()
        self.problems: list[Problem] = []
        self.region: str | None = None  # the "More settings" section being drawn (None: up front)

    @property
    def regions(self) -> dict[str, str | None]:
        return self.anchors.regions

    def in_section(self, name: str | None) -> None:
        self.region = self.anchors.region = name

    def section(self, name: str) -> dict[str, Any]:
        return self.start.get(name) or {}

    def include(self, section: str) -> bool:
        return bool(self.start.get(section)) if section != "data" else True

    def fields(
        self,
        fields: list[forms.FieldSpec],
        key: str,
        path: str,
        box: Any,
        current: dict[str, Any] | None = None,
        columns: int = 3,
    ) -> dict[str, Any]:
        """Draw ``fields``; their values, leaving out those at the params model's own default that
        the starting config did not set (so an example launched unchanged is exactly that file)."""
        current = current or {}
        values, errs = forms.render_fields(
            fields, key_prefix() + key, path, box, current=current, columns=columns, anchors=self.anchors
        )
        self.problems += [Problem.parse(e) for e in errs]
        defaults = {f.name: f.default for f in fields}
        return {k: v for k, v in values.items() if k in current or not _same(v, defaults.get(k, forms.NO_DEFAULT))}

    def chosen(self, kind: str, key: str, default: str | None) -> str | None:
        """The name chosen for ``kind`` (read before its select box is drawn, for the essentials)."""
        names = _names(kind)
        value = st.session_state.get(key_prefix() + key, default)
        return value if value in names else (default if default in names else (names[0] if names else None))

    def plugin_select(
        self, kind: str, key: str, default: str | None, box: Any, type_path: str, caption: bool = True
    ) -> str | None:
        names = _names(kind)
        if not names:
            box.warning(f"No {kind.replace('_', ' ')} plugin is installed.")
            self.anchors[type_path] = box.empty()
            return None
        index = names.index(default) if default in names else 0
        chosen = st.session_state.get(key_prefix() + key, names[index])
        name = box.selectbox(
            KIND_LABELS.get(kind, kind),
            names,
            index=index,
            key=key_prefix() + key,
            help=f"Installed {kind.replace('_', ' ')} plugins. {'' if caption else _summary(kind, chosen)}".strip(),
        )
        self.anchors[type_path] = box.empty()
        if caption:
            box.caption(_summary(kind, name))
        return name

    def plugin_params(
        self,
        kind: str,
        name: str | None,
        key: str,
        box: Any,
        path: str,
        current: dict[str, Any],
        exclude: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """The chosen plugin's params form (without the fields drawn up front)."""
        if name is None:
            return {}
        self.anchors[path] = box.empty()
        try:
            fields = _spec_fields(kind, name)
        except Exception as exc:  # a broken params model must not take the page down
            self.problems.append(Problem(path, f"cannot load the params model of {name!r}: {exc}"))
            return {}
        fields = [f for f in fields if f.name not in exclude]
        if not fields:
            box.caption(f"{name} has no other parameters." if exclude else f"{name} has no parameters.")
            return {}
        box.markdown(f"**{name} parameters**")
        return self.fields(fields, f"{key}.{name}", path, box, current=current)

    def slot(self, path: str, box: Any) -> None:
        self.anchors[path] = box.empty()


def _same(value: Any, default: Any) -> bool:
    """A widget's value equals the schema default (``5`` equals ``5.0``; lists compared as lists)."""
    if default is forms.NO_DEFAULT:
        return False
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    if isinstance(value, (int, float)) and isinstance(default, (int, float)):
        return float(value) == float(default)
    return bool(value == default)


def _plugin_current(start_section: dict[str, Any], type_key: str, params_key: str, name: str | None) -> dict[str, Any]:
    """The starting params of ``name``: the example's, when the example chose the same plugin."""
    return dict(start_section.get(params_key) or {}) if start_section.get(type_key) == name else {}


# -- the essentials ------------------------------------------------------------------------------


def essentials(form: Form, data: dict[str, Any]) -> None:
    """Run name, universe and dates, the trade (leverage, barriers), model and entry."""
    box = st.container(border=True)
    start = form.start
    top = box.columns([3, 1])
    data["name"] = top[0].text_input(
        "Run name",
        value=str(start.get("name") or "gui-run"),
        key=key_prefix() + "run_name",
        help="A label for the run (shown in the Runs list and the report)",
    )
    data["seed"] = int(
        top[1].number_input(
            "Seed",
            value=int(start.get("seed", 42)),
            step=1,
            key=key_prefix() + "seed",
            help="Seed for every random step",
        )
    )

    box.markdown("**Universe**")
    cols = box.columns([1, 2, 1, 1])
    src = form.section("data")
    source = form.plugin_select(
        "data_source",
        "data_source",
        src.get("data_source_type", "sample"),
        cols[0],
        "data.data_source_type",
        caption=False,
    )
    current = {k: src[k] for k in ("tickers", "start_date", "end_date") if k in src}
    values = {}
    for col, spec in zip(cols[1:], _section_fields(DataConfig, ("tickers", "start_date", "end_date"))):
        values.update(form.fields([spec], "data", "data", col, current=current, columns=1))
    data["data"] = {"data_source_type": source, **values}
    form.slot("data", box)  # the section's own checks (start after end)

    trade_box = box.container()
    data["_essential_label"] = trade(form, trade_box)
    model_row = box.columns([2, 1, 1])
    model = form.plugin_select(
        "model",
        "model",
        form.section("model").get("model_type", "xgboost"),
        model_row[0],
        "model.model_type",
        caption=False,
    )
    data["_model_type"] = model
    data["_essential_strategy"] = entry(form, model_row[1])


def trade(form: Form, box: Any) -> dict[str, Any]:
    """The label's side, leverage and barriers (those of them the chosen label has), with the
    backtest's leverage linked to the label's unless unlinked."""
    out: dict[str, Any] = {"label": {}, "backtest": {}}
    label_on = st.session_state.get(key_prefix() + "include_label", form.include("label"))
    backtest_on = st.session_state.get(key_prefix() + "include_backtest", form.include("backtest"))
    lab = form.section("label")
    label_name = form.chosen("label", "label", lab.get("label_type")) if label_on else None
    fields: list[forms.FieldSpec] = []
    if label_name:
        try:
            fields = [f for f in _spec_fields("label", label_name) if f.name in ESSENTIAL_LABEL_PARAMS]
        except Exception:  # noqa: BLE001 - reported by the label section's own form
            fields = []
    fields.sort(key=lambda f: ESSENTIAL_LABEL_PARAMS.index(f.name))
    bt_spec = _section_fields(BacktestConfig, ("leverage",))[0] if backtest_on else None
    if not fields and bt_spec is None:
        return out
    box.markdown("**The trade**" + (f" (label {label_name})" if label_name else ""))
    current = _plugin_current(lab, "label_type", "label_params", label_name)
    bt_current = form.section("backtest")
    cols = box.columns(
        max(len(fields), 1) + (1 if bt_spec is not None and not any(f.name == "leverage" for f in fields) else 0)
    )
    i = 0
    for spec in fields:
        col = cols[i]
        i += 1
        if spec.name == "leverage" and bt_spec is not None:
            for part, values in leverage(form, col, spec, current, bt_spec, bt_current).items():
                out[part].update(values)
            continue
        out["label"].update(
            form.fields([spec], f"label.{label_name}", "label.label_params", col, current=current, columns=1)
        )
    if bt_spec is not None and not any(f.name == "leverage" for f in fields):
        bt_spec.title = "Backtest leverage"
        out["backtest"].update(form.fields([bt_spec], "backtest", "backtest", cols[i], current=bt_current, columns=1))
    return out


def leverage(
    form: Form,
    col: Any,
    spec: forms.FieldSpec,
    current: dict[str, Any],
    bt_spec: forms.FieldSpec,
    bt_current: dict[str, Any],
) -> dict[str, Any]:
    """One leverage for the label and the backtest, or two once the user unlinks them."""
    label_value = current.get("leverage", spec.default)
    bt_value = bt_current.get("leverage", bt_spec.default)
    linked_default = bt_value in (forms.NO_DEFAULT, None) or label_value == bt_value
    linked = st.session_state.get(key_prefix() + "link_leverage", linked_default)
    spec.title = "Leverage" if linked else "Label leverage"
    spec.help = (spec.help or "") + (" Used by the label and the backtest alike." if linked else "")
    raw = forms.render_field(spec, key_prefix() + "leverage", col, current=label_value)
    slot = col.empty()
    form.anchors[LABEL_LEVERAGE] = slot
    linked = col.checkbox(
        "Same in the backtest",
        value=linked_default,
        key=key_prefix() + "link_leverage",
        help="Trade the backtest at the leverage the label scores; untick to set it apart",
    )
    out: dict[str, Any] = {"label": {}, "backtest": {}}
    try:
        value = forms.coerce_value(spec, raw, "label.label_params")
    except forms.FieldValueError as exc:
        form.problems.append(Problem.parse(str(exc)))
        return out
    if value is not forms.NO_DEFAULT:
        out["label"]["leverage"] = value
    if linked:
        form.anchors[BACKTEST_LEVERAGE] = slot
        if value is not forms.NO_DEFAULT:
            out["backtest"]["leverage"] = value
        return out
    bt_spec.title = "Backtest leverage"
    start_bt = value if value is not forms.NO_DEFAULT else bt_value
    out["backtest"].update(
        form.fields([bt_spec], "backtest_unlinked", "backtest", col, current={"leverage": start_bt}, columns=1)
    )
    return out


def entry(form: Form, box: Any) -> dict[str, Any]:
    """The strategy's entry threshold (when the chosen strategy has one)."""
    if not st.session_state.get(key_prefix() + "include_backtest", form.include("backtest")):
        return {}
    bt = form.section("backtest")
    name = form.chosen("strategy", "strategy", bt.get("strategy_type"))
    if not name:
        return {}
    try:
        fields = [f for f in _spec_fields("strategy", name) if f.name in ESSENTIAL_STRATEGY_PARAMS]
    except Exception:  # noqa: BLE001 - reported by the backtest section's own form
        return {}
    current = _plugin_current(bt, "strategy_type", "strategy_params", name)
    return form.fields(fields, f"strategy.{name}", "backtest.strategy_params", box, current=current, columns=1)


# -- the sections --------------------------------------------------------------------------------


def feature_steps(form: Form, box: Any) -> list[dict[str, Any]]:
    """The ordered feature-step list: add, remove, choose a plugin and its params per step."""
    state = st.session_state
    names = _names("feature_step")
    if "qlop_steps" not in state:
        start = [s for s in (form.section("features").get("steps") or []) if isinstance(s, dict)]
        state.qlop_step_counter = itertools.count()
        state.qlop_steps = [
            (next(state.qlop_step_counter), s.get("step_type"), dict(s.get("step_params") or {})) for s in start
        ]
    steps = []
    for position, (step_id, default, params) in enumerate(list(state.qlop_steps)):
        path = f"features.steps.{position}"
        step = box.container(border=True, key=f"step-box-{position + 1}")
        head, remove = step.columns([6, 1])
        if not names:
            break
        index = names.index(default) if default in names else 0
        name = head.selectbox(
            f"Step {position + 1}",
            names,
            index=index,
            key=f"{key_prefix()}step{step_id}",
            help="Installed feature-step plugins",
        )
        form.slot(f"{path}.step_type", head)
        head.caption(_summary("feature_step", name))
        if remove.button("Remove", key=f"{key_prefix()}remove{step_id}", help="Remove this feature step"):
            state.qlop_steps = [s for s in state.qlop_steps if s[0] != step_id]
            st.rerun()
        values = form.plugin_params(
            "feature_step", name, f"step{step_id}", step, f"{path}.step_params", params if name == default else {}
        )
        steps.append({"step_type": name, "step_params": values})
    if box.button(
        "Add feature step",
        key=key_prefix() + "add_step",
        disabled=not names,
        help=None if names else "No feature-step plugin is installed",
    ):
        state.qlop_steps = [*state.qlop_steps, (next(state.qlop_step_counter), names[0] if names else "", {})]
        st.rerun()
    return steps


def sections(form: Form, data: dict[str, Any]) -> None:
    """Every setting that is not up front, one expander per stage (open where a problem is)."""
    open_ = set(st.session_state.get("qlop_open_sections") or ())
    src = form.section("data")
    form.in_section("data")
    with st.expander("Data: source parameters and interval", expanded="data" in open_):
        source = data["data"]["data_source_type"]
        data["data"]["data_source_params"] = form.plugin_params(
            "data_source",
            source,
            "data_source",
            st,
            "data.data_source_params",
            _plugin_current(src, "data_source_type", "data_source_params", source),
        )
        data["data"].update(
            form.fields(
                _section_fields(DataConfig, ("interval", "session", "resample")), "data", "data", st, current=src
            )
        )
    feats = form.section("features")
    form.in_section("features")
    with st.expander("Features: steps and their parameters", expanded="features" in open_):
        steps = feature_steps(form, st)
        values = form.fields(
            _section_fields(FeaturesConfig, exclude=frozenset({"steps"})), "features", "features", st, current=feats
        )
        data["features"] = {"steps": steps, **values}
    essential_label = data.pop("_essential_label")
    essential_strategy = data.pop("_essential_strategy")
    model_type = data.pop("_model_type")
    titles = {
        "label": "Label: type and other parameters",
        "model": "Model: parameters and walk-forward validation",
        "backtest": "Backtest: strategy, capital, sizing and costs",
        "export": "Export",
    }
    for section, kind, type_key, params_key in SECTIONS:
        start = form.section(section)
        form.in_section(section)
        with st.expander(titles[section], expanded=section in open_):
            if not st.checkbox(
                f"Include the {section} stage", value=form.include(section), key=f"{key_prefix()}include_{section}"
            ):
                continue
            if section == "model":
                name = model_type
                st.caption(f"Model type: {name} (chosen above)")
                form.slot("model.model_type", st)
            else:
                name = form.plugin_select(kind, kind, start.get(type_key), st, f"{section}.{type_key}")
            if name is None:
                form.problems.append(
                    Problem(
                        f"{section}.{type_key}", f"no {kind} plugin is installed; untick 'Include the {section} stage'"
                    )
                )
                continue
            exclude: tuple[str, ...] = ()
            shown: dict[str, Any] = {}
            if section == "label":
                exclude, shown = ESSENTIAL_LABEL_PARAMS, essential_label["label"]
            elif section == "backtest":
                exclude, shown = ESSENTIAL_STRATEGY_PARAMS, essential_strategy
            params = form.plugin_params(
                kind,
                name,
                kind,
                st,
                f"{section}.{params_key}",
                _plugin_current(start, type_key, params_key, name),
                exclude=exclude,
            )
            section_data: dict[str, Any] = {type_key: name, params_key: {**shown, **params}}
            if section == "model":
                st.markdown("**Walk-forward validation**")
                section_data["validation"] = form.fields(
                    forms.schema_fields(ValidationConfig.model_json_schema()),
                    "validation",
                    "model.validation",
                    st,
                    current=start.get("validation") or {},
                )
                section_data.update(
                    form.fields(
                        _section_fields(ModelConfig, exclude=frozenset({"model_type", "model_params", "validation"})),
                        "model",
                        "model",
                        st,
                        current=start,
                    )
                )
            elif section == "backtest":
                st.markdown("**Capital, sizing, trade terms and benchmark**")
                exclude_bt = frozenset({"strategy_type", "strategy_params", "leverage"})
                values = form.fields(
                    _section_fields(BacktestConfig, exclude=exclude_bt), "backtest", "backtest", st, current=start
                )
                section_data.update({**values, **essential_label["backtest"]})
            data[section] = section_data
    form.in_section(None)


# -- validation, the ticker check and the launch -------------------------------------------------


def _data_key(data: dict[str, Any]) -> str:
    return config_text(data.get("data") or {})


def tickers_problem(data: dict[str, Any], config: Any) -> Problem | None:
    """The tickers the chosen source lacks, by its own listing or by an earlier probe."""
    if config is None:
        return None
    d = config.data
    listed = listed_ticker_problems(d.data_source_type, d.data_source_params, list(d.tickers))
    if listed is None:
        listed = (st.session_state.get("qlop_probed") or {}).get(_data_key(data)) or {}
    return ticker_problem(listed, d.data_source_type)


def probe_before_launch(data: dict[str, Any], config: Any) -> bool:
    """For a source that cannot list its tickers: load each one now; True when all loaded."""
    d = config.data
    if listed_ticker_problems(d.data_source_type, d.data_source_params, list(d.tickers)) is not None or not d.tickers:
        return True
    with st.spinner(f"Checking {len(d.tickers)} tickers with {d.data_source_type}..."):
        found = probed_ticker_problems(
            d.data_source_type,
            d.data_source_params,
            list(d.tickers),
            d.start_date,
            d.end_date,
            d.interval,
            d.session,
        )
    st.session_state.qlop_probed = {**(st.session_state.get("qlop_probed") or {}), _data_key(data): found}
    return not found


def show_problems(form: Form, problems: list[Problem]) -> list[str]:
    """Each problem next to its field; returns the sections (expanders) that hold one."""
    by_slot: dict[int, tuple[Any, list[str]]] = {}
    sections: set[str] = set()
    names = [p.rsplit(".", 1)[-1] for p in form.anchors]
    for problem in problems:
        anchor = anchor_for(problem.path, form.anchors)
        if anchor is None:
            continue
        slot = form.anchors[anchor]
        by_slot.setdefault(id(slot), (slot, []))[1].append(relative_message(problem, anchor, names))
        if form.regions.get(anchor):
            sections.add(str(form.regions[anchor]))
    for slot, messages in by_slot.values():
        slot.error("\n\n".join(messages), icon=":material/error:")
    return sorted(sections)


def verdict(box: Any, config: Any, problems: list[Problem], names: list[str] | None = None) -> None:
    """Beside the Launch button: valid, or every problem with the field it concerns."""
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        lines = "\n".join(
            f"- **{human_path(p.path)}**: {plain(p.message, [*(names or []), *p.path.split('.')])}" for p in problems
        )
        box.error(
            f"{len(problems)} {noun} to fix before launching (each is also shown at its field):\n{lines}",
            icon=":material/error:",
        )
    else:
        stages = [s for s in ("data", "features", "label", "model", "backtest", "export") if getattr(config, s)]
        box.success(f"Config valid ({', '.join(stages)})", icon=":material/check_circle:")


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


def launch_area(
    box: Any, data: dict[str, Any], config: Any, problems: list[Problem], key: str, names: list[str] | None = None
) -> None:
    verdict(box, config, problems, names)
    if box.button("Launch run", type="primary", disabled=bool(problems), key=key, icon=":material/rocket_launch:"):
        if probe_before_launch(data, config):
            launch(config)
        else:
            st.rerun()  # the probe's findings are shown at the tickers field


# -- the page ------------------------------------------------------------------------------------


def load_example(name: str) -> None:
    """Start the form over from the example called ``name`` (every form widget forgets its value)."""
    state = st.session_state
    old = key_prefix()
    for key in [k for k in state if str(k).startswith(old)]:
        del state[key]
    for key in ("qlop_steps", "qlop_open_sections", "qlop_probed"):
        state.pop(key, None)
    state.qlop_form_gen = state.get("qlop_form_gen", 0) + 1
    state.qlop_start = starting_config(name)
    state.qlop_loaded = name


def example_outline(data: dict[str, Any]) -> str:
    """``12 tickers, 2003-01-01 to 2017-11-10; leverage_opportunity label; xgboost; probability_threshold``."""
    d = data.get("data") or {}
    parts = [
        f"{len(d.get('tickers') or [])} tickers, {d.get('start_date') or 'first'} to {d.get('end_date') or 'last'}"
    ]
    for section, key, what in (
        ("label", "label_type", "label"),
        ("model", "model_type", "model"),
        ("backtest", "strategy_type", "strategy"),
    ):
        if isinstance(data.get(section), dict):
            parts.append(f"{data[section].get(key, 'default')} {what}")
    return "; ".join(parts)


def example_picker() -> None:
    from qlop.examples import QUICKSTART, example_configs

    examples = {e.name: e for e in example_configs()}
    if not examples:
        st.caption(
            "No example configs found (QLOP runs outside its source tree): the form starts from the "
            "quickstart's settings."
        )
        return
    loaded = st.session_state.get("qlop_loaded", QUICKSTART)
    cols = st.columns([3, 2, 5], vertical_alignment="bottom")
    names = list(examples)
    name = cols[0].selectbox(
        "Start from an example",
        names,
        index=names.index(loaded) if loaded in names else 0,
        key="example",
        help="The shipped examples/*.toml; loading one resets the form to it",
    )
    cols[1].button(
        "Load example",
        key="load_example",
        on_click=load_example,
        args=(name,),
        icon=":material/restart_alt:",
        width="stretch",
    )
    chosen = examples[name]
    cols[2].caption(
        f"**{name}**: {example_outline(chosen.data())}" + (" (loaded)" if name == loaded else ""),
        help=chosen.summary or None,
    )


def form_mode() -> None:
    state = st.session_state
    if "qlop_start" not in state:
        state.qlop_start = starting_config()
    example_picker()
    form = Form(state.qlop_start)
    data: dict[str, Any] = {}
    essentials(form, data)
    launch_box = st.container()
    st.subheader("More settings")
    sections(form, data)
    config, problems = (None, list(form.problems)) if form.problems else config_problems(data)
    found = tickers_problem(data, config)
    if found is not None:
        problems.append(found)
    state.qlop_open_sections = show_problems(form, problems)
    if config is not None:
        with st.expander("Config as JSON"):
            st.json(config.model_dump(mode="json"), expanded=False)
    launch_area(
        launch_box, data, config, problems, key_prefix() + "launch", [p.rsplit(".", 1)[-1] for p in form.anchors]
    )


def pasted_config() -> tuple[str | None, str, str]:
    """(text, format, source name) from the paste box or an uploaded file."""
    upload = st.file_uploader("Upload a config file", type=["toml", "json", "yaml", "yml"], key="upload")
    if upload is not None:
        return upload.getvalue().decode("utf-8", errors="replace"), format_of(upload.name), upload.name
    fmt = st.selectbox("Format", FORMATS, key="paste_format")
    text = st.text_area("Paste a config (TOML, JSON or YAML)", height=300, key="paste_text")
    return (text or None), fmt, "<pasted config>"


def paste_mode() -> None:
    from qlop.config import parse_config_text
    from qlop.errors import ConfigError

    text, fmt, source = pasted_config()
    if text is None:
        st.info("Paste a config or upload a file to validate it.")
        return
    data: dict[str, Any] = {}
    try:
        data = parse_config_text(text, fmt, source)
        config, problems = config_problems(data)
    except ConfigError as exc:
        config, problems = None, [Problem("", str(exc).removeprefix(f"{source}: "))]
    found = tickers_problem(data, config)
    if found is not None:
        problems.append(found)
    launch_area(st.container(), data, config, problems, "paste_launch")


def render() -> None:
    st.title("New run")
    mode = st.radio(
        "Config",
        ["Build with the form", "Paste or upload a file"],
        horizontal=True,
        key="mode",
        label_visibility="collapsed",
    )
    if mode == "Build with the form":
        form_mode()
    else:
        paste_mode()
