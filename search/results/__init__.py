"""The results side: reading a study back.

``tables`` (``search studies|trials|best|export|compare``), ``report`` (one offline HTML
page, its figures built by ``report_figures``, the best trial's forecast figure drawn by
``search.forecast_figure``), ``dashboard`` (optuna-dashboard behind the project's guards,
``dashboard_guards``) and ``loading`` with ``forecaster`` (the best trial's model,
``search.load_best``). Nothing here changes a study's trials.
"""
