"""Trading days and hours of the synthetic shop, shaped like the real Online Retail II data.

The real shop never trades on Saturdays, closes from Christmas Eve to 3 January and on UK
bank holidays, sells most in October-November, and the extract stops at lunchtime on
2011-12-09. Day weights here drive both how many orders happen and when.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIRST_DAY = np.datetime64("2009-12-01", "D")
LAST_DAY = np.datetime64("2011-12-09", "D")  # inclusive: December 2011 stays a partial month
OVERLAP_FIRST_DAY = np.datetime64("2010-12-01", "D")  # 1-9 Dec 2010 is in both XLSX sheets
OVERLAP_END_DAY = np.datetime64("2010-12-10", "D")  # exclusive

_CLOSED_RANGES = (("2009-12-24", "2010-01-03"), ("2010-12-24", "2011-01-03"))
_BANK_HOLIDAYS = (
    "2010-04-02",
    "2010-04-05",
    "2010-05-03",
    "2010-05-31",
    "2010-08-30",
    "2011-04-22",
    "2011-04-25",
    "2011-04-29",
    "2011-05-02",
    "2011-05-30",
    "2011-08-29",
)
# Calendar month -> relative order volume; the gift trade peaks before Christmas.
_MONTH_SEASON = np.array([0.72, 0.72, 0.9, 0.8, 0.88, 0.9, 0.86, 0.88, 1.25, 1.45, 1.75, 1.55])
# Monday .. Sunday; Saturday is closed in the real data.
_WEEKDAY_FACTOR = np.array([1.0, 1.1, 1.1, 1.2, 0.8, 0.0, 0.55])
_WEEKDAY_HOURS = np.array([2, 6, 10, 13, 14, 15, 14, 12, 10, 6, 3, 2, 1.5, 1.0])  # 07:00-20:00
_FIRST_HOUR = 7
_SUNDAY_HOURS = np.where((np.arange(7, 21) >= 10) & (np.arange(7, 21) <= 16), _WEEKDAY_HOURS, 0)
_LAST_DAY_CLOSE_MINUTE = 12 * 60 + 50  # the extract was cut at 12:50 on the last day


@dataclass(frozen=True)
class TradingCalendar:
    """Per-day arrays over the whole data window (index 0 = 2009-12-01)."""

    dates: np.ndarray
    weight: np.ndarray
    cumulative: np.ndarray
    month_index: np.ndarray
    next_open: np.ndarray

    @property
    def n_days(self) -> int:
        """Number of calendar days in the window, closed days included."""
        return len(self.dates)

    def day_index(self, day: np.datetime64) -> int:
        """Index of a calendar day in the window."""
        return int((np.datetime64(day, "D") - FIRST_DAY).astype(int))

    def weight_between(self, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Total day weight of the half-open day ranges [start, stop), zero when empty."""
        start = np.clip(start, 0, self.n_days)
        stop = np.clip(stop, 0, self.n_days)
        return np.maximum(self.cumulative[np.maximum(stop, start)] - self.cumulative[start], 0.0)

    def sample_days(self, rng: np.random.Generator, start: np.ndarray, stop: np.ndarray):
        """One open day per range [start, stop), drawn in proportion to the day weight."""
        low = self.cumulative[start]
        high = self.cumulative[stop]
        points = low + rng.random(len(low)) * (high - low)
        days = np.searchsorted(self.cumulative, points, side="right") - 1
        days = np.clip(days, start, stop - 1)
        # Float ties can land on a closed day just before an open one: move forward.
        closed = self.weight[days] == 0
        if closed.any():
            days[closed] = np.minimum(self.next_open[days[closed]], stop[closed] - 1)
        return days

    def sample_minutes(self, rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
        """Minute of the day for invoices on the given days (opening hours, lunch peak)."""
        n = len(days)
        weekday_hours = _draw_hours(rng, _WEEKDAY_HOURS, n)
        sunday_hours = _draw_hours(rng, _SUNDAY_HOURS, n)
        is_sunday = _weekday(self.dates[days]) == 6
        minutes = np.where(is_sunday, sunday_hours, weekday_hours) * 60 + rng.integers(0, 60, n)
        last = days == self.n_days - 1
        # The extract ends at lunchtime on the last day: squeeze that day into the morning.
        minutes[last] = 8 * 60 + minutes[last] % (_LAST_DAY_CLOSE_MINUTE - 8 * 60 + 1)
        return minutes.astype(np.int64)

    def close_minute(self, days: np.ndarray) -> np.ndarray:
        """Latest minute a same-day follow-up (a cancellation) may carry on each day."""
        return np.where(days == self.n_days - 1, _LAST_DAY_CLOSE_MINUTE, 20 * 60 + 59)


def _weekday(dates: np.ndarray) -> np.ndarray:
    """Monday = 0 .. Sunday = 6 (1970-01-01 was a Thursday)."""
    return (dates.astype("datetime64[D]").astype(np.int64) + 3) % 7


def _draw_hours(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    cdf = np.cumsum(weights) / np.sum(weights)
    return _FIRST_HOUR + np.searchsorted(cdf, rng.random(n), side="right")


def build_calendar() -> TradingCalendar:
    """The fixed 2009-12-01 .. 2011-12-09 trading calendar."""
    dates = np.arange(FIRST_DAY, LAST_DAY + 1, dtype="datetime64[D]")
    open_day = _WEEKDAY_FACTOR[_weekday(dates)] > 0
    for first, last in _CLOSED_RANGES:
        open_day &= ~((dates >= np.datetime64(first)) & (dates <= np.datetime64(last)))
    open_day &= ~np.isin(dates, np.array(_BANK_HOLIDAYS, dtype="datetime64[D]"))
    months = dates.astype("datetime64[M]")
    calendar_month = months.astype(np.int64) % 12
    weight = np.where(open_day, _MONTH_SEASON[calendar_month] * _WEEKDAY_FACTOR[_weekday(dates)], 0)
    weight = weight * open_day.sum() / weight.sum()  # mean 1 per open day
    cumulative = np.concatenate([[0.0], np.cumsum(weight)])
    month_index = (months - FIRST_DAY.astype("datetime64[M]")).astype(np.int64)
    next_open = _next_open_day(open_day)
    return TradingCalendar(dates, weight, cumulative, month_index, next_open)


def _next_open_day(open_day: np.ndarray) -> np.ndarray:
    """For each day, the first open day at or after it (len(open_day) when there is none)."""
    n = len(open_day)
    index = np.where(open_day, np.arange(n), n)
    return np.minimum.accumulate(index[::-1])[::-1]
