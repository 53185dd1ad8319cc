"""Helpers shared by the sweep tests."""


def optuna_trials(sweep_dir):
    """The Optuna trials of a TPE sweep, read from its journal as the sweep stores it."""
    import optuna

    journal = optuna.storages.journal.JournalFileBackend(str(sweep_dir / "optuna.journal"))
    storage = optuna.storages.JournalStorage(journal)
    return optuna.load_study(study_name="digitnet-sweep", storage=storage).trials
