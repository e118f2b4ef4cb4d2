"""Deterministic synthetic demo data: an SP500-like ArcticDB research store plus pickle datasets.

``generate_demo(arctic, pickle_dir)`` writes, with no network access:

==========================  ==========================================================================
library / symbol            content
==========================  ==========================================================================
prices_1min / <TICKER>      1-minute OHLCV bars over real NYSE regular sessions (the *window*)
prices_daily / <TICKER>     daily OHLCV: one year of history, then the window's minute bars aggregated
indices / SPX               1-minute cap-weighted index level of the generated tickers
news_enriched / YYYY-MM-DD  one symbol per session: headlines with sentiment and relevance
sentiment / <TICKER>        daily relevance-weighted sentiment from the news (tickers with articles)
signals / momentum/SP500    daily cross-sectional 20-session momentum with ranks
==========================  ==========================================================================

and, under ``pickle_dir``, following seed 003's ``{data_type}/{market}/{model}/{stamp}_{params}.pkl``:
GBM index paths (``index/<market>/gbm/``) and Black-Scholes option chains with an implied-volatility smile
(``option_chain/<market>/black_scholes/``), each DataFrame carrying ``attrs`` version, created_at and
model_params (a JSON string).

Conventions
-----------
* Intraday ``ts`` values (minute bars, index levels, news publication times, GBM paths) are naive
  ``datetime64[ns]`` **in UTC**.  A minute bar is labelled by its start, so a regular NYSE session has bars
  09:30..15:59 New York time: 14:30..20:59 UTC under EST, 13:30..19:59 UTC under EDT.
* Daily ``ts`` values (daily bars, sentiment, momentum) are the session date at 00:00, naive.
* Prices are rounded to cents; volumes are int64.
* Determinism: every random draw comes from ``numpy.random.default_rng([seed, stream...])`` where the stream
  names the market factor, a ticker (CRC-32 of its symbol), the news or a pickle dataset.  The same arguments
  therefore give identical data, and a ticker's path does not depend on which other tickers are generated.
  Nothing reads the clock: the window ends at the last session on or before ``end_date`` (default
  2024-03-28) and the pickle file stamps derive from ``end_date`` and ``seed``.
* Versions: everything is written once, a snapshot ``demo`` is taken in each library (over the demo symbols
  only), then ``prices_daily/<first ticker>`` is rewritten to correct a bad high print in its history; on a
  fresh store that symbol thus has versions 0 (snapshot ``demo``) and 1 (latest).
* Idempotency: running again with the same arguments writes new versions holding equal data, re-creates the
  ``demo`` snapshots the same way and overwrites the pickle files with identical content.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
import os
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from arcticsql.pickles.backends.local import LocalStorage

DEFAULT_END_DATE = dt.date(2024, 3, 28)
HISTORY_SESSIONS = 252          # daily bars before the minute window
MOMENTUM_LOOKBACK = 20          # sessions
SNAPSHOT_NAME = "demo"
SOURCE = "arcticsql demo"
UNIVERSE_FILE = Path("config") / "universe.json"

NEW_YORK = ZoneInfo("America/New_York")
REGULAR_OPEN = dt.time(9, 30)
REGULAR_CLOSE = dt.time(16, 0)
EARLY_CLOSE = dt.time(13, 0)
_REGULAR_MINUTES = 390

# Ad-hoc NYSE closures since 2001 (September 11, national days of mourning, Hurricane Sandy).
_SPECIAL_CLOSURES = frozenset({
    dt.date(2001, 9, 11), dt.date(2001, 9, 12), dt.date(2001, 9, 13), dt.date(2001, 9, 14),
    dt.date(2004, 6, 11), dt.date(2007, 1, 2), dt.date(2012, 10, 29), dt.date(2012, 10, 30),
    dt.date(2018, 12, 5), dt.date(2025, 1, 9),
})

ProgressCallback = Callable[[int, int, str], None]


# --------------------------------------------------------------------------------------------- calendar

def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter Sunday (the anonymous Meeus/Jones/Butcher computus)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 (the algorithm's own names)
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    day += 1
    return dt.date(year, month, day)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th (1-based) ``weekday`` (Monday = 0) of a month; ``n = -1`` for the last one."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: dt.date) -> dt.date:
    """Weekend observance: a Saturday holiday moves to Friday, a Sunday one to Monday."""
    if day.weekday() == 5:
        return day - dt.timedelta(days=1)
    if day.weekday() == 6:
        return day + dt.timedelta(days=1)
    return day


@cache
def nyse_holidays(year: int) -> frozenset[dt.date]:
    """NYSE full-day holidays of ``year`` by rule (observed dates; ad-hoc closures not included)."""
    holidays = {
        _nth_weekday(year, 1, 0, 3),                  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),                  # Washington's Birthday
        easter_sunday(year) - dt.timedelta(days=2),   # Good Friday
        _nth_weekday(year, 5, 0, -1),                 # Memorial Day
        _observed(dt.date(year, 7, 4)),               # Independence Day
        _nth_weekday(year, 9, 0, 1),                  # Labor Day
        _nth_weekday(year, 11, 3, 4),                 # Thanksgiving
        _observed(dt.date(year, 12, 25)),             # Christmas
    }
    new_year = dt.date(year, 1, 1)
    if new_year.weekday() != 5:  # a Saturday New Year's Day is not observed on the Friday before
        holidays.add(_observed(new_year))
    if year >= 2022:
        holidays.add(_observed(dt.date(year, 6, 19)))  # Juneteenth
    return frozenset(holidays)


@cache
def nyse_early_closes(year: int) -> frozenset[dt.date]:
    """13:00 closes by the current rules: the day after Thanksgiving, and July 3 / December 24 when they fall
    Monday-Thursday (on a Friday they are the observed holiday, or a full session when the holiday is
    observed on Monday).  A few pre-2004 exceptions are not modelled."""
    early = {_nth_weekday(year, 11, 3, 4) + dt.timedelta(days=1)}
    early.update(day for day in (dt.date(year, 7, 3), dt.date(year, 12, 24)) if day.weekday() <= 3)
    return frozenset(early)


def is_nyse_session(day: dt.date) -> bool:
    """Whether the NYSE holds a session on ``day``."""
    return day.weekday() < 5 and day not in nyse_holidays(day.year) and day not in _SPECIAL_CLOSURES


def _is_weekday(day: dt.date) -> bool:
    return day.weekday() < 5


def _sessions_ending(end: dt.date, count: int, is_session: Callable[[dt.date], bool]) -> list[dt.date]:
    """The last ``count`` sessions on or before ``end``, oldest first."""
    sessions: list[dt.date] = []
    day = end
    while len(sessions) < count:
        if is_session(day):
            sessions.append(day)
        day -= dt.timedelta(days=1)
    return sessions[::-1]


def nyse_sessions_ending(end: dt.date, count: int) -> list[dt.date]:
    """The last ``count`` NYSE sessions on or before ``end``, oldest first."""
    return _sessions_ending(end, count, is_nyse_session)


def _to_naive_utc(local: dt.datetime) -> pd.Timestamp:
    return pd.Timestamp(local.astimezone(dt.timezone.utc).replace(tzinfo=None))


def nyse_session_bounds(day: dt.date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(open, close) of the NYSE regular session on ``day`` as naive UTC timestamps (DST-aware)."""
    close = EARLY_CLOSE if day in nyse_early_closes(day.year) else REGULAR_CLOSE
    return (_to_naive_utc(dt.datetime.combine(day, REGULAR_OPEN, NEW_YORK)),
            _to_naive_utc(dt.datetime.combine(day, close, NEW_YORK)))


@dataclass(frozen=True)
class _MinuteGrid:
    """1-minute bars over a run of sessions."""

    ts: pd.DatetimeIndex  # bar start times, naive UTC, named "ts"
    session: np.ndarray   # session number of each bar
    starts: np.ndarray    # position of each session's first bar
    phase: np.ndarray     # position of each bar inside its session, in (0, 1)


def _minute_grid(bounds: list[tuple[pd.Timestamp, pd.Timestamp]]) -> _MinuteGrid:
    lengths = np.array([(close - open_) // pd.Timedelta(minutes=1) for open_, close in bounds])
    ts = pd.DatetimeIndex(
        np.concatenate([pd.date_range(open_, periods=n, freq="min").values
                        for (open_, _), n in zip(bounds, lengths, strict=True)]), name="ts")
    session = np.repeat(np.arange(len(bounds)), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    phase = (np.arange(len(ts)) - starts[session] + 0.5) / lengths[session]
    return _MinuteGrid(ts, session, starts, phase)


def _intraday_profile(phase: np.ndarray) -> np.ndarray:
    """U-shaped intraday activity (high at the open and the close), mean 1 over a session."""
    return (1.0 + 3.0 * (2.0 * phase - 1.0) ** 2) / 2.0


# --------------------------------------------------------------------------------------------- universe

@dataclass(frozen=True)
class _Company:
    ticker: str
    name: str
    price: float          # price level at the start of the minute window
    market_cap_bn: float
    volatility: float     # annualised


# Synthetic-market calibration (approximate early-2024 levels): name, price, market cap ($bn), volatility.
_PROFILES: dict[str, tuple[str, float, float, float]] = {
    "AAPL": ("Apple", 185.0, 2870, 0.22), "MSFT": ("Microsoft", 410.0, 3050, 0.22),
    "NVDA": ("NVIDIA", 880.0, 2200, 0.50), "AMZN": ("Amazon", 178.0, 1850, 0.30),
    "GOOGL": ("Alphabet", 150.0, 1880, 0.28), "META": ("Meta Platforms", 500.0, 1270, 0.35),
    "LLY": ("Eli Lilly", 770.0, 730, 0.28), "AVGO": ("Broadcom", 1300.0, 610, 0.33),
    "JPM": ("JPMorgan Chase", 195.0, 560, 0.20), "TSLA": ("Tesla", 175.0, 560, 0.55),
    "V": ("Visa", 280.0, 570, 0.17), "UNH": ("UnitedHealth", 490.0, 450, 0.22),
    "XOM": ("Exxon Mobil", 115.0, 460, 0.24), "MA": ("Mastercard", 475.0, 445, 0.19),
    "JNJ": ("Johnson & Johnson", 158.0, 380, 0.15), "PG": ("Procter & Gamble", 160.0, 380, 0.15),
    "HD": ("Home Depot", 380.0, 380, 0.22), "COST": ("Costco", 730.0, 325, 0.20),
    "MRK": ("Merck", 130.0, 330, 0.20), "ABBV": ("AbbVie", 180.0, 320, 0.22),
    "AMD": ("AMD", 180.0, 290, 0.50), "CRM": ("Salesforce", 300.0, 290, 0.32),
    "NFLX": ("Netflix", 610.0, 265, 0.35), "CVX": ("Chevron", 155.0, 290, 0.24),
    "BAC": ("Bank of America", 37.0, 290, 0.26), "WMT": ("Walmart", 60.0, 485, 0.17),
    "KO": ("Coca-Cola", 61.0, 265, 0.14), "PEP": ("PepsiCo", 170.0, 235, 0.15),
    "ADBE": ("Adobe", 510.0, 230, 0.33), "ORCL": ("Oracle", 125.0, 345, 0.30),
    "TMO": ("Thermo Fisher", 580.0, 220, 0.24), "LIN": ("Linde", 460.0, 225, 0.18),
    "ACN": ("Accenture", 350.0, 220, 0.24), "MCD": ("McDonald's", 285.0, 205, 0.17),
    "CSCO": ("Cisco", 50.0, 200, 0.20), "ABT": ("Abbott", 113.0, 197, 0.20),
    "INTC": ("Intel", 43.0, 185, 0.38), "WFC": ("Wells Fargo", 57.0, 205, 0.27),
    "DIS": ("Disney", 120.0, 220, 0.28), "QCOM": ("Qualcomm", 168.0, 188, 0.33),
    "INTU": ("Intuit", 650.0, 182, 0.30), "TXN": ("Texas Instruments", 172.0, 157, 0.25),
    "VZ": ("Verizon", 41.0, 173, 0.20), "AMGN": ("Amgen", 285.0, 153, 0.22),
    "CAT": ("Caterpillar", 365.0, 180, 0.27), "IBM": ("IBM", 190.0, 175, 0.20),
    "GE": ("General Electric", 170.0, 185, 0.28), "PFE": ("Pfizer", 28.0, 158, 0.25),
    "NKE": ("Nike", 95.0, 143, 0.28), "CMCSA": ("Comcast", 43.0, 172, 0.24),
}


def _ticker_stream(ticker: str) -> int:
    return zlib.crc32(ticker.encode())


def _company(ticker: str) -> _Company:
    """The calibrated profile of ``ticker``; a generic mid-cap profile for tickers not in ``_PROFILES``."""
    if ticker in _PROFILES:
        return _Company(ticker, *_PROFILES[ticker])
    return _Company(ticker, ticker, 20.0 + _ticker_stream(ticker) % 480, 50.0, 0.30)


def load_universe(path: str | os.PathLike | None = None) -> list[str]:
    """Tickers of the universe file: ``path`` if given, else ``./config/universe.json``, else the copy next to
    the package (a source checkout), else the built-in list of the 50 calibrated tickers."""
    if path is not None:
        return [str(symbol) for symbol in json.loads(Path(path).read_text())["symbols"]]
    for candidate in (UNIVERSE_FILE, Path(__file__).resolve().parent.parent / UNIVERSE_FILE):
        if candidate.is_file():
            return load_universe(candidate)
    return list(_PROFILES)


# --------------------------------------------------------------------------------------- stock market

_DRIFT = 0.08               # annual
_MARKET_SHARE = 0.5         # share of each ticker's return variance coming from the common market factor
_DAILY_TURNOVER = 0.004     # fraction of shares outstanding traded per day
_SPX_BASE = 5100.0          # index level at the start of the window


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


@dataclass(frozen=True)
class _Window:
    """The demo calendar: history sessions (daily bars only), then the minute-bar sessions."""

    history: list[dt.date]
    sessions: list[dt.date]
    grid: _MinuteGrid


def _window(end: dt.date, days: int) -> _Window:
    sessions = nyse_sessions_ending(end, HISTORY_SESSIONS + days)
    window = sessions[HISTORY_SESSIONS:]
    return _Window(sessions[:HISTORY_SESSIONS], window,
                   _minute_grid([nyse_session_bounds(day) for day in window]))


@dataclass(frozen=True)
class _MarketFactor:
    """Standard-normal shocks shared by all tickers."""

    daily: np.ndarray   # one per history session
    minute: np.ndarray  # one per window minute


def _shocks(common: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Standard-normal shocks with ``_MARKET_SHARE`` of their variance from the common factor."""
    own = rng.standard_normal(len(common))
    return math.sqrt(_MARKET_SHARE) * common + math.sqrt(1.0 - _MARKET_SHARE) * own


def _ohlcv_frame(ts: Iterable, open_, high, low, close, volume) -> pd.DataFrame:
    """An OHLCV frame indexed by ``ts``: prices rounded to cents, volume as int64 (at least 1)."""
    frame = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close},
                         index=pd.DatetimeIndex(ts, name="ts")).round(2)
    frame["volume"] = np.maximum(np.rint(volume), 1).astype(np.int64)
    return frame


def _wicks(open_, close, scale, rng) -> tuple[np.ndarray, np.ndarray]:
    """High and low around the bar body, with half-normal excursions of size ``scale``."""
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 1.0, len(close))) * scale)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 1.0, len(close))) * scale)
    return high, low


def _history_bars(company: _Company, days: list[dt.date], common: np.ndarray,
                  rng: np.random.Generator) -> pd.DataFrame:
    """Daily GBM bars anchored so that the last close equals the company's reference price."""
    sigma = company.volatility / math.sqrt(252)
    returns = (_DRIFT - company.volatility ** 2 / 2) / 252 + sigma * _shocks(common, rng)
    log_close = np.cumsum(returns)
    close = company.price * np.exp(log_close - log_close[-1])
    open_ = close * np.exp(-returns + rng.normal(0.0, 0.2 * sigma, len(days)))
    high, low = _wicks(open_, close, 0.4 * sigma, rng)
    volume = _base_volume(company) * np.exp(rng.normal(0.0, 0.3, len(days)))
    return _ohlcv_frame(days, open_, high, low, close, volume)


def _base_volume(company: _Company) -> float:
    return _DAILY_TURNOVER * company.market_cap_bn * 1e9 / company.price


def _minute_bars(company: _Company, grid: _MinuteGrid, common: np.ndarray,
                 rng: np.random.Generator) -> pd.DataFrame:
    """1-minute GBM bars starting from the reference price, with overnight gaps and U-shaped volatility
    and volume."""
    sigma_day = company.volatility / math.sqrt(252)
    profile = _intraday_profile(grid.phase)
    sigma = sigma_day / math.sqrt(_REGULAR_MINUTES) * np.sqrt(profile)
    steps = (_DRIFT - company.volatility ** 2 / 2) / 252 / _REGULAR_MINUTES + sigma * _shocks(common, rng)
    gaps = np.zeros(len(steps))
    gaps[grid.starts] = rng.normal(0.0, 0.2 * sigma_day, len(grid.starts))
    log_close = np.cumsum(steps + gaps)
    close = company.price * np.exp(log_close)
    open_ = company.price * np.exp(log_close - steps)
    high, low = _wicks(open_, close, 0.5 * sigma, rng)
    session_volume = _base_volume(company) * np.exp(rng.normal(0.0, 0.3, len(grid.starts)))
    volume = (session_volume[grid.session] * profile / _REGULAR_MINUTES
              * np.exp(rng.normal(0.0, 0.35, len(steps))))
    return _ohlcv_frame(grid.ts, open_, high, low, close, volume)


def _aggregate_daily(minute: pd.DataFrame, window: _Window) -> pd.DataFrame:
    """Daily bars of the window: first open, max high, min low, last close, summed volume per session."""
    starts = window.grid.starts
    last = np.append(starts[1:], len(minute)) - 1
    return pd.DataFrame({
        "open": minute["open"].to_numpy()[starts],
        "high": np.maximum.reduceat(minute["high"].to_numpy(), starts),
        "low": np.minimum.reduceat(minute["low"].to_numpy(), starts),
        "close": minute["close"].to_numpy()[last],
        "volume": np.add.reduceat(minute["volume"].to_numpy(), starts),
    }, index=pd.DatetimeIndex(window.sessions, name="ts"))


def _simulate_ticker(company: _Company, window: _Window, market: _MarketFactor,
                     seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(minute bars, daily bars) of one ticker; the daily bars continue seamlessly into the window."""
    rng = _rng(seed, 1, _ticker_stream(company.ticker))
    history = _history_bars(company, window.history, market.daily, rng)
    minute = _minute_bars(company, window.grid, market.minute, rng)
    return minute, pd.concat([history, _aggregate_daily(minute, window)])


def _index_bars(minutes: dict[str, pd.DataFrame], companies: list[_Company]) -> pd.DataFrame:
    """Cap-weighted index (fixed share counts) scaled to ``_SPX_BASE`` at the reference prices."""
    divisor = sum(company.market_cap_bn for company in companies) * 1e9 / _SPX_BASE
    columns = ["open", "high", "low", "close"]
    weighted = sum(minutes[c.ticker][columns] * (c.market_cap_bn * 1e9 / c.price) for c in companies)
    return (weighted / divisor).round(2)


# ---------------------------------------------------------------------------------- news and signals

_FIRMS = ("Morgan Stanley", "Goldman Sachs", "JPMorgan", "Bank of America", "Citi", "UBS", "Barclays",
          "Jefferies", "Evercore ISI", "Bernstein")
_SOURCES = ("Benzinga", "Reuters", "Bloomberg", "Dow Jones", "MarketWatch", "Seeking Alpha")
_POSITIVE = (
    "{name} shares rise after analyst upgrade", "{name} beats quarterly earnings estimates",
    "{name} raises full-year guidance", "{firm} lifts {name} price target",
    "{name} stock climbs on strong demand outlook", "{name} expands share buyback program",
    "{name} wins multi-year contract", "{firm} upgrades {name} to overweight",
)
_NEGATIVE = (
    "{name} shares fall after analyst downgrade", "{name} misses revenue expectations",
    "{name} cuts outlook amid slowing demand", "{firm} lowers {name} price target",
    "{name} faces regulatory probe", "{name} stock slides as margins narrow",
    "{firm} downgrades {name} to underweight", "{name} warns of supply chain pressure",
)
_NEUTRAL = (
    "{name} to present at {firm} investor conference", "{name} schedules quarterly earnings call",
    "{name} names new chief financial officer", "What to watch in {name} stock this week",
    "{name} holds annual shareholder meeting", "{firm} reiterates neutral rating on {name}",
)
_NEWS_HOURS = (7, 19)  # publication window, New York local time


def _news_day(day: dt.date, companies: list[_Company], day_z: np.ndarray,
              rng: np.random.Generator) -> pd.DataFrame:
    """One session's headlines; sentiment leans with each ticker's standardised return of the day.

    Larger companies get more articles; the first ticker always gets at least one, so no day is empty."""
    intensity = np.array([0.5 + 3.5 * math.sqrt(c.market_cap_bn / 3000) for c in companies])
    counts = rng.poisson(intensity)
    counts[0] = max(counts[0], 1)
    who = np.repeat(np.arange(len(companies)), counts)
    sentiment = np.tanh(0.6 * day_z[who] + rng.normal(0.0, 0.5, len(who))).round(3)
    templates = [_POSITIVE if s > 0.25 else _NEGATIVE if s < -0.25 else _NEUTRAL for s in sentiment]
    headlines = [options[rng.integers(len(options))].format(name=companies[i].name,
                                                            firm=_FIRMS[rng.integers(len(_FIRMS))])
                 for options, i in zip(templates, who, strict=True)]
    seconds = rng.integers(_NEWS_HOURS[0] * 3600, _NEWS_HOURS[1] * 3600, len(who))
    local = pd.Timestamp(day) + pd.to_timedelta(seconds, unit="s")
    ts = pd.DatetimeIndex(local).tz_localize(NEW_YORK).tz_convert("UTC").tz_localize(None)
    frame = pd.DataFrame({
        "ticker": [companies[i].ticker for i in who],
        "headline": headlines,
        "source": rng.choice(_SOURCES, len(who)),
        "sentiment": sentiment,
        "relevance": rng.uniform(0.3, 1.0, len(who)).round(2),
    }, index=pd.DatetimeIndex(ts, name="ts"))
    return frame.sort_index(kind="stable")


def _sentiment(news: dict[dt.date, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Per ticker, per session: relevance-weighted mean sentiment and article count (tickers with news)."""
    rows = pd.concat([frame.reset_index(drop=True).assign(ts=pd.Timestamp(day))
                      for day, frame in news.items()])
    rows["weighted"] = rows["sentiment"] * rows["relevance"]
    daily = rows.groupby(["ticker", "ts"]).agg(
        weighted=("weighted", "sum"), weight=("relevance", "sum"), n_articles=("sentiment", "size"))
    daily["score"] = (daily["weighted"] / daily["weight"]).round(4)
    daily["n_articles"] = daily["n_articles"].astype(np.int64)
    return {ticker: frame.droplevel("ticker")[["score", "n_articles"]]
            for ticker, frame in daily.groupby(level="ticker")}


def _momentum(closes: pd.DataFrame) -> pd.DataFrame:
    """Cross-sectional momentum: the ``MOMENTUM_LOOKBACK``-session return, ranked per day (1 = strongest)."""
    momentum = (closes / closes.shift(MOMENTUM_LOOKBACK) - 1).iloc[MOMENTUM_LOOKBACK:].round(6)
    rows = momentum.stack().rename("momentum").reset_index()
    rows["rank"] = rows.groupby("ts")["momentum"].rank(ascending=False, method="first").astype(np.int64)
    return rows.sort_values(["ts", "rank"]).set_index("ts")[["ticker", "momentum", "rank"]]


def _with_bad_print(daily: pd.DataFrame, history: list[dt.date]) -> tuple[pd.DataFrame, dt.date]:
    """A copy of ``daily`` with one inflated high in mid-history (the error a later version corrects)."""
    day = history[len(history) // 2]
    bad = daily.copy()
    bad.loc[pd.Timestamp(day), "high"] = round(bad.loc[pd.Timestamp(day), "high"] * 1.05, 2)
    return bad, day


# ------------------------------------------------------------------------------------ pickle datasets

@dataclass(frozen=True)
class _IndexMarket:
    name: str
    spot: float
    timezone: str
    open: dt.time
    close: dt.time
    rate: float
    dividend_yield: float
    atm_vol: float
    strike_step: float
    expiry_weekday: int      # weekly expiries (Monday = 0)
    monthly_occurrence: int  # which expiry weekday of the month is the monthly expiry (-1 = last)
    nyse: bool               # NYSE calendar; otherwise every weekday is a session

    @property
    def regular_minutes(self) -> int:
        return (self.close.hour - self.open.hour) * 60 + self.close.minute - self.open.minute


_MARKETS = (
    _IndexMarket("nifty", 19800.0, "Asia/Kolkata", dt.time(9, 15), dt.time(15, 30),
                 0.068, 0.012, 0.13, 50.0, 3, -1, nyse=False),
    _IndexMarket("spx", 5100.0, "America/New_York", REGULAR_OPEN, REGULAR_CLOSE,
                 0.053, 0.014, 0.14, 25.0, 4, 3, nyse=True),
)
_SCENARIOS = (("bullish_high_vol", 0.30, 0.28), ("bearish_low_vol", -0.20, 0.10),
              ("sideways_normal_vol", 0.0, 0.16))
_PATH_SESSIONS = 5
_STRIKES_EACH_SIDE = 20
_SMILE_SKEW = -0.05       # IV = atm * (1 + skew*z + curvature*z^2), z = ln(K/F) / (atm * sqrt(T))
_SMILE_CURVATURE = 0.04
_PICKLE_VERSION = "1.0"


def _market_is_session(market: _IndexMarket, day: dt.date) -> bool:
    return is_nyse_session(day) if market.nyse else _is_weekday(day)


def _market_bounds(market: _IndexMarket, day: dt.date) -> tuple[pd.Timestamp, pd.Timestamp]:
    if market.nyse:
        return nyse_session_bounds(day)
    zone = ZoneInfo(market.timezone)
    return (_to_naive_utc(dt.datetime.combine(day, market.open, zone)),
            _to_naive_utc(dt.datetime.combine(day, market.close, zone)))


def _run_stamp(end: dt.date, seed: int) -> dt.datetime:
    """The deterministic 'generated at' time of a demo run: 18:00 on ``end`` plus ``seed`` seconds mod 1h."""
    return dt.datetime.combine(end, dt.time(18, 0)) + dt.timedelta(seconds=seed % 3600)


def _with_attrs(frame: pd.DataFrame, stamp: dt.datetime, params: dict[str, Any]) -> pd.DataFrame:
    frame.attrs.update(version=_PICKLE_VERSION, created_at=stamp.isoformat(),
                       model_params=json.dumps(params, sort_keys=True))
    return frame


def _gbm_path(market: _IndexMarket, scenario: str, mu: float, sigma: float, end: dt.date,
              rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, Any]]:
    """1-minute GBM index path over the last ``_PATH_SESSIONS`` sessions up to ``end``, and its parameters."""
    days = _sessions_ending(end, _PATH_SESSIONS, lambda day: _market_is_session(market, day))
    grid = _minute_grid([_market_bounds(market, day) for day in days])
    step_dt = 1.0 / (252 * market.regular_minutes)
    steps = (mu - sigma ** 2 / 2) * step_dt + sigma * math.sqrt(step_dt) * rng.standard_normal(len(grid.ts))
    close = market.spot * np.exp(np.cumsum(steps))
    open_ = close * np.exp(-steps)
    high, low = _wicks(open_, close, 0.5 * sigma * math.sqrt(step_dt), rng)
    volume = 250_000 * _intraday_profile(grid.phase) * np.exp(rng.normal(0.0, 0.35, len(steps)))
    frame = _ohlcv_frame(grid.ts, open_, high, low, close, volume)
    frame.columns = ["Open", "High", "Low", "Close", "Volume"]
    params = {"model": "gbm", "market": market.name, "scenario": scenario, "mu": mu, "sigma": sigma,
              "s0": market.spot, "bar": "1min", "sessions": [day.isoformat() for day in days],
              "timestamps": "bar start, naive UTC"}
    return frame, params


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf, otypes=[float])(x / math.sqrt(2.0)))


def _norm_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x ** 2) / math.sqrt(2.0 * math.pi)


def _black_scholes(spot: float, strike: np.ndarray, years: float, rate: float, dividend_yield: float,
                   vol: np.ndarray) -> dict[str, np.ndarray]:
    """European prices and Greeks (Black-Scholes-Merton with a continuous dividend yield).

    Vega is per volatility point (1%), theta per calendar day."""
    root_t = math.sqrt(years)
    d1 = (np.log(spot / strike) + (rate - dividend_yield + vol ** 2 / 2) * years) / (vol * root_t)
    d2 = d1 - vol * root_t
    spot_disc = spot * math.exp(-dividend_yield * years)
    strike_disc = strike * math.exp(-rate * years)
    density = _norm_pdf(d1)
    decay = -spot_disc * density * vol / (2 * root_t)
    gamma = math.exp(-dividend_yield * years) * density / (spot * vol * root_t)
    vega = spot_disc * density * root_t / 100
    return {
        "CallPrice": spot_disc * _norm_cdf(d1) - strike_disc * _norm_cdf(d2),
        "PutPrice": strike_disc * _norm_cdf(-d2) - spot_disc * _norm_cdf(-d1),
        "CallDelta": math.exp(-dividend_yield * years) * _norm_cdf(d1),
        "CallGamma": gamma,
        "CallVega": vega,
        "CallTheta": (decay - rate * strike_disc * _norm_cdf(d2)
                      + dividend_yield * spot_disc * _norm_cdf(d1)) / 365,
        "PutDelta": -math.exp(-dividend_yield * years) * _norm_cdf(-d1),
        "PutGamma": gamma,
        "PutVega": vega,
        "PutTheta": (decay + rate * strike_disc * _norm_cdf(-d2)
                     - dividend_yield * spot_disc * _norm_cdf(-d1)) / 365,
    }


def _previous_session(market: _IndexMarket, day: dt.date) -> dt.date:
    while not _market_is_session(market, day):
        day -= dt.timedelta(days=1)
    return day


def _expiry(market: _IndexMarket, kind: str, valuation: dt.date) -> dt.date:
    """Weekly: the first expiry weekday at least 5 days ahead; monthly: the market's monthly expiry in the
    next calendar month; either moved back to the previous session if it is a holiday."""
    if kind == "weekly":
        day = valuation + dt.timedelta(days=5)
        day += dt.timedelta(days=(market.expiry_weekday - day.weekday()) % 7)
    else:
        year, month = valuation.year + valuation.month // 12, valuation.month % 12 + 1
        day = _nth_weekday(year, month, market.expiry_weekday, market.monthly_occurrence)
    return _previous_session(market, day)


def _option_chain(market: _IndexMarket, kind: str, end: dt.date, spot: float,
                  atm_vol: float) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A Black-Scholes chain valued at the last session close on or before ``end``, one expiry, with a
    skewed smile (CallIV == PutIV per strike, so put-call parity holds), and its parameters."""
    valuation = _previous_session(market, end)
    expiry = _expiry(market, kind, valuation)
    years = (expiry - valuation).days / 365
    step = market.strike_step * (1 if kind == "weekly" else 2)
    strikes = round(spot / step) * step + step * np.arange(-_STRIKES_EACH_SIDE, _STRIKES_EACH_SIDE + 1)
    forward = spot * math.exp((market.rate - market.dividend_yield) * years)
    z = np.clip(np.log(strikes / forward) / (atm_vol * math.sqrt(years)), -4.0, 4.0)
    vol = atm_vol * (1.0 + _SMILE_SKEW * z + _SMILE_CURVATURE * z ** 2)
    greeks = _black_scholes(spot, strikes, years, market.rate, market.dividend_yield, vol)
    frame = pd.DataFrame({"Strike": strikes, "ExpiryDate": pd.Timestamp(expiry)})
    frame["ExpiryDate"] = frame["ExpiryDate"].astype("datetime64[ns]")
    frame["CallPrice"], frame["PutPrice"] = greeks["CallPrice"].round(2), greeks["PutPrice"].round(2)
    frame["CallIV"] = frame["PutIV"] = vol.round(4)
    for side in ("Call", "Put"):
        for greek, digits in (("Delta", 4), ("Gamma", 6), ("Vega", 4), ("Theta", 4)):
            frame[f"{side}{greek}"] = greeks[f"{side}{greek}"].round(digits)
    params = {"model": "black_scholes", "market": market.name, "expiry_kind": kind, "spot": spot,
              "rate": market.rate, "dividend_yield": market.dividend_yield, "atm_vol": atm_vol,
              "smile": {"skew": _SMILE_SKEW, "curvature": _SMILE_CURVATURE},
              "valuation_date": valuation.isoformat(), "expiry": expiry.isoformat(), "years": years,
              "units": {"vega": "per vol point", "theta": "per calendar day"}}
    return frame, params


def _pickle_datasets(end: dt.date, seed: int) -> list[tuple[str, pd.DataFrame]]:
    """(relative path, frame) of every pickle dataset, in a fixed order."""
    stamp = _run_stamp(end, seed)
    prefix = stamp.strftime("%Y%m%d_%H%M%S")
    datasets = []
    for m, market in enumerate(_MARKETS):
        for s, (scenario, mu, sigma) in enumerate(_SCENARIOS):
            frame, params = _gbm_path(market, scenario, mu, sigma, end, _rng(seed, 3, m, s))
            params["seed"] = seed
            datasets.append((f"index/{market.name}/gbm/{prefix}_{scenario}.pkl",
                             _with_attrs(frame, stamp, params)))
        chain_rng = _rng(seed, 4, m)
        spot = round(market.spot * math.exp(chain_rng.normal(0.0, 0.02)), 2)
        for kind in ("weekly", "monthly"):
            atm_vol = round(market.atm_vol * math.exp(chain_rng.normal(0.0, 0.05)), 4)
            frame, params = _option_chain(market, kind, end, spot, atm_vol)
            params["seed"] = seed
            datasets.append((f"option_chain/{market.name}/black_scholes/{prefix}_{kind}_expiry.pkl",
                             _with_attrs(frame, stamp, params)))
    return datasets


# ---------------------------------------------------------------------------------------- the store

@dataclass(frozen=True)
class _Write:
    library: str
    symbol: str
    frame: pd.DataFrame
    metadata: dict[str, Any]


@dataclass(frozen=True)
class _StorePlan:
    writes: list[_Write]   # first writes, in order
    correction: _Write     # the second version of one symbol, written after the snapshot
    window: _Window


def _simulate_stocks(companies: list[_Company], window: _Window,
                     seed: int) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Minute and daily bars of every ticker, all driven by one market factor."""
    rng = _rng(seed, 0)
    market = _MarketFactor(rng.standard_normal(len(window.history)), rng.standard_normal(len(window.grid.ts)))
    minutes, dailies = {}, {}
    for company in companies:
        minutes[company.ticker], dailies[company.ticker] = _simulate_ticker(company, window, market, seed)
    return minutes, dailies


def _simulate_news(companies: list[_Company], window: _Window, closes: pd.DataFrame,
                   seed: int) -> dict[dt.date, pd.DataFrame]:
    """Headlines of every window session, their sentiment following each ticker's return that day."""
    sigmas = np.array([c.volatility / math.sqrt(252) for c in companies])
    day_z = np.log(closes / closes.shift(1)).iloc[-len(window.sessions):].to_numpy() / sigmas
    rng = _rng(seed, 2)
    return {day: _news_day(day, companies, day_z[i], rng) for i, day in enumerate(window.sessions)}


def _plan_store(companies: list[_Company], end: dt.date, days: int, seed: int) -> _StorePlan:
    """Generate every ArcticDB frame (in memory) and the metadata to write it with."""
    window = _window(end, days)
    minutes, dailies = _simulate_stocks(companies, window, seed)
    closes = pd.DataFrame({ticker: daily["close"] for ticker, daily in dailies.items()})
    closes.columns.name = "ticker"
    news = _simulate_news(companies, window, closes, seed)

    base = {"source": SOURCE, "seed": seed, "end_date": end.isoformat(), "generator": "arcticsql.demo"}
    intraday = {**base, "ts": "naive UTC"}
    daily_meta = {**base, "ts": "session date"}
    first = companies[0].ticker
    bad_daily, bad_day = _with_bad_print(dailies[first], window.history)
    writes = [_Write("prices_1min", t, frame, {**intraday, "bar": "1min, labelled by start"})
              for t, frame in minutes.items()]
    writes += [_Write("prices_daily", t, bad_daily if t == first else frame, daily_meta)
               for t, frame in dailies.items()]
    writes.append(_Write("indices", "SPX", _index_bars(minutes, companies),
                         {**intraday, "weighting": "market cap", "base": _SPX_BASE}))
    writes += [_Write("news_enriched", day.isoformat(), frame, intraday) for day, frame in news.items()]
    writes += [_Write("sentiment", t, frame, {**daily_meta, "score": "relevance-weighted mean"})
               for t, frame in _sentiment(news).items()]
    writes.append(_Write("signals", "momentum/SP500", _momentum(closes),
                         {**daily_meta, "lookback_sessions": MOMENTUM_LOOKBACK}))
    correction = _Write("prices_daily", first, dailies[first],
                        {**daily_meta, "correction": f"removed bad high print on {bad_day.isoformat()}"})
    return _StorePlan(writes, correction, window)


def _snapshot(arctic, versions: dict[tuple[str, str], int], seed: int) -> None:
    """(Re)create the ``demo`` snapshot in each library, over the demo symbols' written versions."""
    by_library: dict[str, dict[str, int]] = {}
    for (library, symbol), version in versions.items():
        by_library.setdefault(library, {})[symbol] = version
    for library, symbol_versions in by_library.items():
        lib = arctic.get_library(library, create_if_missing=True)
        if SNAPSHOT_NAME in lib.list_snapshots():
            lib.delete_snapshot(SNAPSHOT_NAME)
        lib.snapshot(SNAPSHOT_NAME, metadata={"source": SOURCE, "seed": seed}, versions=symbol_versions)


def _pick_tickers(symbols: int) -> list[str]:
    universe = load_universe()
    if not 1 <= symbols <= len(universe):
        raise ValueError(f"symbols must be between 1 and {len(universe)} (the universe size), got {symbols}")
    return universe[:symbols]


def generate_demo(arctic, pickle_dir: str | os.PathLike, *, symbols: int = 5, days: int = 10, seed: int = 42,
                  end_date: str | dt.date | None = None,
                  progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Write the demo store into ``arctic`` (an ``arcticdb.Arctic``) and the pickle datasets under
    ``pickle_dir``; see the module docstring for the layout and conventions.

    ``symbols`` takes the first N tickers of the universe file, ``days`` is the number of minute-bar sessions
    ending at the last NYSE session on or before ``end_date`` (default ``DEFAULT_END_DATE``).  ``progress``,
    if given, is called as ``progress(done, total, label)`` after each write.  Returns a summary: tickers,
    sessions, rows per library and symbol, the corrected symbol's versions and the pickle files written.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    tickers = _pick_tickers(symbols)
    end = pd.Timestamp(end_date or DEFAULT_END_DATE).date()
    plan = _plan_store([_company(t) for t in tickers], end, days, seed)
    datasets = _pickle_datasets(end, seed)
    total = len(plan.writes) + 2 + len(datasets)
    done = 0

    def step(label: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, label)

    versions: dict[tuple[str, str], int] = {}
    for write in plan.writes:
        lib = arctic.get_library(write.library, create_if_missing=True)
        versions[write.library, write.symbol] = lib.write(write.symbol, write.frame,
                                                          metadata=write.metadata).version
        step(f"{write.library}/{write.symbol}")
    _snapshot(arctic, versions, seed)
    step(f"snapshot {SNAPSHOT_NAME}")
    fix = plan.correction
    corrected = arctic.get_library(fix.library).write(fix.symbol, fix.frame, metadata=fix.metadata).version
    step(f"{fix.library}/{fix.symbol} (correction)")
    pickles = LocalStorage(str(pickle_dir))  # atomic saves: temp file, then rename
    for relative, frame in datasets:
        pickles.save(frame, relative)
        step(relative)

    libraries: dict[str, dict[str, int]] = {}
    for write in [*plan.writes, fix]:
        libraries.setdefault(write.library, {})[write.symbol] = len(write.frame)
    return {
        "seed": seed,
        "end_date": end.isoformat(),
        "tickers": tickers,
        "sessions": {"first": plan.window.sessions[0].isoformat(),
                     "last": plan.window.sessions[-1].isoformat(), "count": days,
                     "history": HISTORY_SESSIONS},
        "libraries": libraries,
        "rows": {library: sum(rows.values()) for library, rows in libraries.items()},
        "snapshot": SNAPSHOT_NAME,
        "versions": {f"{fix.library}/{fix.symbol}": [versions[fix.library, fix.symbol], corrected]},
        "pickle_dir": str(pickle_dir),
        "pickle_files": [relative for relative, _ in datasets],
    }
