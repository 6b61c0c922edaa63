"""The application layer of partialfed: grids, sweeps, stored results, checks, report.

Modules
-------
cell        ``Cell`` (family, knobs, RunConfig, init seed): its hash, its problem, ``execute``
config      TOML grids and ``--set`` overrides, expanded into validated cells
store       one Parquet file per run, written atomically; ``load`` gives one tidy DataFrame
sweep       ``run_sweep``: a grid of cells run once each, resumable, written to the store
executors   serial, process-pool and Dask executors of a sweep
plots/      every figure (matplotlib): ``sweeps`` (result folders), ``studies`` (the report's
            strict, exponent and calibration figures), ``regime`` (the regime figure),
            ``style`` (colours, ``save``)
tables      final metrics per algorithm
measure     the measured left-hand side of a ``theory.Bound`` (bound terms -> History columns)
steps       step-size rules of checks and studies: MaxStep, Eta, TunedEta
checks      strict checks, exponent fits, calibration and per-round lemma checks
regime      FedAlt-vs-FedSim maps under three step policies (best step from a grid: headline)
regime_result, regime_stats, regime_search, regime_text
            what a map measured (``RegimeMap``, ``Policy``); best steps and paired intervals;
            the worst-case search; the report's regime section
studies     the shipped verification studies (quick and full sizes)
report      ``partialfed reproduce``: every study, written as Markdown with figures
bench       kernel speed against NumPy references (``partialfed bench``)
cli/        the ``partialfed`` command line, one module per group of verbs: ``sweeps`` (run,
            plot), ``theory`` (bound), ``verify`` (check, regime, reproduce), ``bench``
"""
