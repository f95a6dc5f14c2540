"""The results side: reading a study back.

``tables`` (``search studies|trials|best|export|compare``), ``report`` (one offline HTML
page, with the best trial's forecast figure drawn by ``search.forecast_figure``),
``dashboard`` (optuna-dashboard with the project's guards) and ``forecaster`` (the best
trial's model, ``search.load_best``). Nothing here changes a study's trials.
"""
