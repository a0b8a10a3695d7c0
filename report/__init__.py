"""report: the evidence report of a claims run (pytest-html), evidence.json and component CSVs.

Contents
--------
plugin              : the pytest plugin (`EvidenceReport`, the per-claim cards, the terminal summary).
evidence            : recording results and run metadata; writing evidence.json and CSVs.
fragments           : HTML fragments (cards, tables, summary).
plots               : the one plot registry: claim kind -> plots.
plots_components, plots_interventions, plots_agreement : the plots of each kind.
plot_style          : palette, figure size, reproducible PNG bytes.
provenance          : the suite's version and code hash (run metadata a merge compares).
parquet_export      : ``--export parquet``: per claim and model, components and per-prompt features.
merged_page         : report.html of a merge of several runs (`cluster.merge`), without pytest.
"""
