"""Sweeps: many trainings over configuration fields and seeds, run on Dask.

``digitnet sweep`` is the command; the parts, each one concept:

- :mod:`.space`    what is swept: fixed settings, choices and ranges, seeds (flags or a TOML file)
- :mod:`.trial`    one training, run on a worker into its own run folder, returning a small record
- :mod:`.results`  ``results.jsonl``: one line per finished trial, appended as it arrives
- :mod:`.searches` which trials to run: the grid, random search, Optuna's TPE
- :mod:`.engine`   where they run: in this process, a Dask ``LocalCluster``, or a cluster's scheduler
- :mod:`.summary`  configurations ranked by mean validation accuracy over seeds
- :mod:`.command`  the ``digitnet sweep`` flags, the sweep folder's definition, and the run

The sweep folder::

    sweeps/quick-20261129-120000/
        sweep.json       the sweep's definition (what --resume reads)
        results.jsonl    one record per finished trial (configuration, seed, accuracies, host...)
        optuna.journal   the Optuna study (--search tpe)
        trials/<id>/     each trial's run folder (model.npz, history.json, report.json)
        summary.md       the ranking as a Markdown table
        accuracy.png     validation accuracy against each swept field

This subpackage imports the core and is never imported by it; Dask and
Optuna are imported only where they are used (``pip install 'digitnet[sweep]'``).
"""
