"""The ``alphavantage`` source, offline: a real ``requests.Session`` whose transport replays recorded answers.

fixtures/alphavantage holds answers in the service's exact TIME_SERIES_DAILY_ADJUSTED layout built from
real prices (see make_fixtures.py there) and the service's own rate-limit, premium, error and damaged
answers. Nothing here touches the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
import requests
from click.testing import CliRunner

from qlop.cli.main import cli
from qlop.config import DataConfig
from qlop.errors import ConfigError, DataError
from qlop.stages.data import load_panel
from qlop.testing import DataSourceContract
from qlop_contrib.datasources.alphavantage_source import AlphaVantageSource

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alphavantage"
SAMPLE = Path(__file__).resolve().parents[2] / "qlop_contrib" / "data" / "ohlcv"
KEY = "TESTKEY-8F3K2"


def recorded(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def from_sample(ticker: str) -> bytes:
    """A success answer carrying the sample's (already adjusted) bars: adjusted close == close."""
    path = SAMPLE / f"{ticker}.csv"
    if not path.is_file():
        return recorded("invalid_symbol.json")
    df = pd.read_csv(path)
    series = {
        r.Date: {
            "1. open": f"{r.Open}",
            "2. high": f"{r.High}",
            "3. low": f"{r.Low}",
            "4. close": f"{r.Close}",
            "5. adjusted close": f"{r.Close}",
            "6. volume": f"{r.Volume}",
            "7. dividend amount": "0.0000",
            "8. split coefficient": "1.0",
        }
        for r in df.iloc[::-1].itertuples()
    }
    return json.dumps({"Meta Data": {"2. Symbol": ticker}, "Time Series (Daily)": series}).encode()


class Replay(requests.adapters.BaseAdapter):
    """Answers each GET from a script per symbol: (status, body) pairs or exceptions, in order (the last
    one repeats); symbols without a script get the sample's bars. Records every request."""

    def __init__(self, script: dict[str, list[Any]] | None = None) -> None:
        super().__init__()
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.requests: list[dict[str, str]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.requests.append(query)
        answers = self.script.get(query["symbol"])
        if not answers:
            answers = [(200, from_sample(query["symbol"]))]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        response = requests.Response()
        response.status_code, response._content = answer  # type: ignore[attr-defined]
        response.url, response.request = request.url, request
        return response

    def close(self) -> None:
        pass


def source(script: dict[str, list[Any]] | None = None, **params: Any) -> tuple[AlphaVantageSource, Replay, list[float]]:
    session = requests.Session()
    replay = Replay(script)
    session.mount("https://", replay)
    waits: list[float] = []
    return AlphaVantageSource("alphavantage", params, session=session, sleep=waits.append), replay, waits


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALPHAVANTAGE_API_KEY", KEY)


class TestAlphaVantageContract(DataSourceContract):
    component_name = "alphavantage"

    def make_component(self) -> Any:
        return source()[0]


def sample(tickers: list[str], start: str, end: str) -> pd.DataFrame:
    return load_panel(DataConfig(data_source_type="sample", tickers=tickers, start_date=start, end_date=end))


def test_one_full_adjusted_request_per_ticker_and_the_sample_comes_back_unchanged() -> None:
    src, replay, waits = source()
    panel = src.load_data(["AAPL", "KO"], "2011-02-01", "2011-02-28", "1d")
    assert replay.requests == [
        {"function": "TIME_SERIES_DAILY_ADJUSTED", "symbol": t, "outputsize": "full", "datatype": "json", "apikey": KEY}
        for t in ("AAPL", "KO")
    ]
    assert waits == []
    pd.testing.assert_frame_equal(panel, sample(["AAPL", "KO"], "2011-02-01", "2011-02-28"))


def test_adjustment_follows_the_sample_convention_through_a_split() -> None:
    """AAPL split 2:1 on 2005-02-28. Raw closes halve there; QLOP's adjusted closes are back-adjusted
    like the sample's (their ratio to the sample stays constant across the split, as does the volume
    ratio: dollar volume is kept), and each value is raw x adjusted close / close, checked by hand."""
    src, _, _ = source({"AAPL": [(200, recorded("AAPL_daily_adjusted.json"))]})
    got = src.load_data(["AAPL"], "2005-01-03", "2005-04-29", "1d").loc["AAPL"]
    raw = json.loads(recorded("AAPL_daily_adjusted.json"))["Time Series (Daily)"]
    for day in ("2005-02-25", "2005-02-28"):
        r = {k: float(v) for k, v in raw[day].items()}
        f = r["5. adjusted close"] / r["4. close"]
        row = got.loc[pd.Timestamp(day)]
        assert row["open"] == pytest.approx(r["1. open"] * f, rel=1e-12)
        assert row["high"] == pytest.approx(r["2. high"] * f, rel=1e-12)
        assert row["low"] == pytest.approx(r["3. low"] * f, rel=1e-12)
        assert row["close"] == row["adj_close"] == pytest.approx(r["5. adjusted close"], rel=1e-12)
        assert row["volume"] == pytest.approx(r["6. volume"] / f, rel=1e-12)
    assert float(raw["2005-02-28"]["4. close"]) / float(raw["2005-02-25"]["4. close"]) < 0.51  # the raw jump
    ref = sample(["AAPL"], "2005-01-03", "2005-04-29").loc["AAPL"]
    assert got.index.equals(ref.index)
    price_ratio = got["close"] / ref["close"]
    volume_ratio = got["volume"] / ref["volume"]
    assert price_ratio.std() / price_ratio.mean() < 2e-4  # the sample's prices carry 4 decimals
    # Same dollar volume, up to the two vendors' counts (WIKI's volume on the split day itself is off by 2x).
    dollar = (volume_ratio * price_ratio).sub(1).abs()
    assert dollar.median() < 5e-3  # (an unscaled volume would be off by the factor, about 15x here)


def test_dividends_are_in_the_adjusted_returns() -> None:
    """IBM paid dividends on 2012-08-08 and 2012-11-07: the adjusted close-to-close return of an
    ex-dividend day is the raw return with the dividend reinvested (multiplicative convention, as the
    sample and Yahoo: close / (previous close - dividend) - 1), about D / close above the price return."""
    src, _, _ = source({"IBM": [(200, recorded("IBM_daily_adjusted.json"))]})
    got = src.load_data(["IBM"], None, None, "1d").loc["IBM"]
    raw = json.loads(recorded("IBM_daily_adjusted.json"))["Time Series (Daily)"]
    for day, before in (("2012-08-08", "2012-08-07"), ("2012-11-07", "2012-11-06")):
        dividend = float(raw[day]["7. dividend amount"])
        assert dividend > 0.8
        close, previous = float(raw[day]["4. close"]), float(raw[before]["4. close"])
        adjusted = got.loc[pd.Timestamp(day), "close"] / got.loc[pd.Timestamp(before), "close"] - 1
        assert adjusted == pytest.approx(close / (previous - dividend) - 1, abs=1e-6)  # D has 4 decimals
        assert adjusted - (close / previous - 1) == pytest.approx(dividend / previous, rel=0.02)


@pytest.mark.parametrize("limit", ["rate_limit_note.json", "rate_limit_information.json"])
def test_rate_limit_answers_are_retried_with_backoff(limit: str) -> None:
    ok = (200, recorded("IBM_daily_adjusted.json"))
    src, replay, waits = source({"IBM": [(200, recorded(limit)), (200, recorded(limit)), ok]}, backoff_seconds=12)
    panel = src.load_data(["IBM"], "2012-07-02", "2012-07-31", "1d")
    assert len(panel) == 21 and len(replay.requests) == 3
    assert waits == [12, 24]


def test_a_rate_limit_that_persists_is_one_line_naming_the_ticker() -> None:
    src, replay, waits = source({"MSFT": [(200, recorded("rate_limit_note.json"))]}, max_retries=3)
    with pytest.raises(DataError) as info:
        src.load_data(["IBM", "MSFT"], None, None, "1d")
    assert str(info.value) == (
        "alphavantage: ticker MSFT: the service is throttling requests (Thank you for using Alpha Vantage! Our "
        "standard API call frequency is 5 calls per minute and 500 calls per day. Please visit "
        "https://www.alphavantage.co/premium/ if you would like to target a higher API call frequency.) "
        "(gave up after 4 attempts)"
    )
    assert [r["symbol"] for r in replay.requests] == ["IBM", "MSFT", "MSFT", "MSFT", "MSFT"]
    assert waits == [15, 30, 60]


def test_an_unknown_symbol_fails_at_once_naming_it() -> None:
    src, replay, waits = source({"NOSUCHCO": [(200, recorded("invalid_symbol.json"))]})
    with pytest.raises(
        DataError,
        match=r"^alphavantage: ticker NOSUCHCO: unknown symbol or invalid request "
        r"\(Invalid API call\. Please retry",
    ):
        src.load_data(["NOSUCHCO"], None, None, "1d")
    assert len(replay.requests) == 1 and waits == []


def test_a_premium_endpoint_answer_is_not_retried() -> None:
    src, replay, _ = source({"IBM": [(200, recorded("premium_endpoint.json"))]})
    with pytest.raises(DataError, match="ticker IBM: TIME_SERIES_DAILY_ADJUSTED needs a premium key"):
        src.load_data(["IBM"], None, None, "1d")
    assert len(replay.requests) == 1


def test_an_empty_series_is_an_error_naming_the_ticker() -> None:
    src, _, _ = source({"ZZZT": [(200, recorded("empty_series.json"))]})
    with pytest.raises(DataError, match="^alphavantage: ticker ZZZT: the service returned an empty time series$"):
        src.load_data(["ZZZT"], None, None, "1d")


def test_malformed_answers() -> None:
    """A cut-off body or an HTML error page is retried, then named; a bad value names day and field."""
    for body in (recorded("truncated.json"), recorded("bad_gateway.html")):
        src, replay, waits = source({"IBM": [(200, body)]}, max_retries=2)
        with pytest.raises(
            DataError,
            match=r"^alphavantage: ticker IBM: the answer is not JSON \(cut off or an "
            r"error page\) \(gave up after 3 attempts\)$",
        ):
            src.load_data(["IBM"], None, None, "1d")
        assert len(replay.requests) == 3 and len(waits) == 2
    src, _, _ = source({"IBM": [(200, recorded("bad_values.json"))]})
    with pytest.raises(
        DataError,
        match=r"^alphavantage: ticker IBM, date 2012-09-14, field '4. close': "
        r"not a number: 'None'$",
    ):
        src.load_data(["IBM"], None, None, "1d")
    src, _, _ = source({"IBM": [(200, b'{"Meta Data": {}, "Series": []}')]})
    with pytest.raises(DataError, match=r"answer without 'Time Series \(Daily\)' \(keys: Meta Data, Series\)"):
        src.load_data(["IBM"], None, None, "1d")


def test_http_and_network_failures_are_retried_and_never_show_the_key() -> None:
    boom = requests.ConnectionError(f"HTTPSConnectionPool: Max retries exceeded with url: /query?apikey={KEY}")
    ok = (200, recorded("IBM_daily_adjusted.json"))
    src, replay, waits = source({"IBM": [(503, b"busy"), boom, ok]})
    assert len(src.load_data(["IBM"], "2012-12-03", "2012-12-07", "1d")) == 5
    assert len(replay.requests) == 3
    src, _, _ = source({"IBM": [boom]}, max_retries=1)
    with pytest.raises(DataError) as info:
        src.load_data(["IBM"], None, None, "1d")
    assert str(info.value) == "alphavantage: ticker IBM: request failed (ConnectionError) (gave up after 2 attempts)"
    src, replay, _ = source({"IBM": [(403, b"Forbidden")]})
    with pytest.raises(DataError, match="ticker IBM: HTTP 403 from https://www.alphavantage.co/query$"):
        src.load_data(["IBM"], None, None, "1d")
    assert len(replay.requests) == 1


def test_a_missing_key_is_one_line_exit_2_and_no_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALPHAVANTAGE_API_KEY")
    src, replay, _ = source()
    with pytest.raises(ConfigError, match="environment variable ALPHAVANTAGE_API_KEY is not set"):
        src.load_data(["IBM"], None, None, "1d")
    assert replay.requests == []
    cfg = tmp_path / "av.toml"
    cfg.write_text(
        '[data]\ndata_source_type = "alphavantage"\ntickers = ["IBM"]\n'
        'data_source_params = { api_key_env = "MY_AV_KEY" }\n'
    )
    result = CliRunner().invoke(cli, ["data", "load", "-c", str(cfg), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: data.data_source_params.api_key_env: environment variable MY_AV_KEY is not set; put your "
        "Alpha Vantage API key in it (export MY_AV_KEY=...)"
    ]
    assert not (tmp_path / "run" / "data.parquet").exists()


def test_cached_for_the_day_and_the_key_is_not_in_the_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The data stage reuses today's download; the key is read from the environment at load time only."""
    from qlop.plugins.manager import get_plugin_manager

    calls: list[str] = []
    real = AlphaVantageSource.fetch

    def counting(self: AlphaVantageSource, ticker: str, key: str) -> dict[str, Any]:
        calls.append(ticker)
        replay = Replay()
        self._session = requests.Session()
        self._session.mount("https://", replay)
        return real(self, ticker, key)

    monkeypatch.setattr(AlphaVantageSource, "fetch", counting)
    cfg = DataConfig(data_source_type="alphavantage", tickers=["KO"], start_date="2016-01-01", end_date="2016-03-31")
    first = load_panel(cfg)
    monkeypatch.setenv("ALPHAVANTAGE_API_KEY", "ANOTHER-KEY")
    second = load_panel(cfg)
    assert calls == ["KO"]
    pd.testing.assert_frame_equal(first, second)
    params = get_plugin_manager().create("data_source", "alphavantage", {}, "p").params.model_dump_json()
    assert KEY not in params and "ANOTHER-KEY" not in params
    assert np.isfinite(first["close"]).all()
