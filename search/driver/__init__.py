"""The driver: the one process that talks to the study storage.

``prepare`` checks a space and loads its dataset (no Ray, no storage: ``search validate`` runs
only this); ``run`` opens or resumes the study and runs Ray Tune rounds through the bridge
(``bridge``: Optuna's sampler asks, its pruner decides, ``study_ops``: tell and recovery,
``pruning``: when the pruner can prune), with ``progress`` on the terminal, ``fork`` for a
study made from another space and ``uploads`` for the artifacts (learning curves, the
best checkpoints and their forecast figures). It hands
``search.worker.trainable`` to Ray; it never trains.
"""
