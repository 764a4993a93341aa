-- bookpipe warehouse, version 3, DuckDB: nothing to change. DuckDB keeps min/max zone maps per
-- row group, and a slice's rows are appended together, so a filter on (subject, ds) skips the row
-- groups of every other slice; an ART index would slow the appends and hold memory for no gain.
-- Measured with the history benchmark (docs/benchmarks.md): load and aggregate stay flat.
SELECT 1;
