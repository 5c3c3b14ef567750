"""Tidy records: a list of flat dicts, one measurement per row, with a few filters.

Every diagnostic of the library returns :class:`Records` (columns such as ``parametrization, n, L, seed, step,
layer, quantity, value``); plotting reads them; caches store them as JSON; :meth:`Records.to_frame` hands them to
pandas (an optional dependency, in the ``notebooks`` extra).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class Records(list):
    """A list of dict rows with ``where``, ``unique`` and ``column``."""

    def where(self, **conditions) -> Records:
        """Rows whose columns equal the given values; a list, tuple or set value means 'one of'. A column that no
        row has is an error (a misspelt column would otherwise select nothing, silently)."""
        columns = {key for row in self for key in row}
        unknown = sorted(set(conditions) - columns)
        if unknown and self:
            raise ValueError(f"column {', '.join(unknown)} is in no row; the columns are {', '.join(sorted(columns))}")

        def keep(row):
            for key, want in conditions.items():
                have = row.get(key)
                if isinstance(want, (list, tuple, set, frozenset)):
                    if have not in want:
                        return False
                elif have != want:
                    return False
            return True
        return Records(row for row in self if keep(row))

    def unique(self, key: str) -> list:
        """Sorted distinct values of a column."""
        return sorted({row[key] for row in self if key in row})

    def column(self, key: str) -> np.ndarray:
        return np.array([row[key] for row in self])

    def to_frame(self):
        """The rows as a :class:`pandas.DataFrame`, one column per key (a key missing from a row is NaN)."""
        return _pandas().DataFrame.from_records(list(self))

    def extend_rows(self, rows: Iterable[dict], **common) -> None:
        """Append rows, each updated with the ``common`` columns."""
        for row in rows:
            self.append({**common, **row})


def _pandas():
    """pandas, imported only when a table is asked for (the core library does not need it)."""
    try:
        import pandas
    except ImportError as err:
        raise ImportError("to_frame() needs pandas: pip install pandas (or the notebooks extra)") from err
    return pandas
