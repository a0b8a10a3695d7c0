"""report: the evidence report of a claims run (pytest-html), evidence.json and component CSVs.

Contents
--------
plugin            : the pytest plugin (`EvidenceReport`: records, files at the end, the last line).
                    Its name repeats `fixtures.plugin` on purpose: both are the ``pytest11``
                    entry points of the distribution, one per room, named ``<room>.plugin``.
evidence          : the one reader and writer of evidence.json; recording results and run
                    metadata; component CSVs.
cards             : a claim's card, with the plots its kind declares, as pytest-html extras.
summary           : the top of the page: verdicts, the confound audit, the Sensitivity table.
sensitivity       : the Sensitivity table (positive controls on trained and twin models).
fragments         : HTML fragments (cards, tables, badges, results-table cells).
factorial_tables  : per-cell behaviour, token lengths and power tables on a card.
outcome           : the run's last line and exit status.
run_dir           : the run's own report directory and ``reports/latest``.
checks            : an unwritable report directory stops the run at configure time.
plots             : drawing the plots a kind declares that a result supports.
plots_components, plots_interventions, plots_agreement, plots_patterns : each kind's plots.
plot_style        : palette, figure size, reproducible PNG bytes.
provenance        : the suite's version and code hash (run metadata a merge compares).
parquet_export    : ``--export parquet``: per claim and model, components and per-prompt features.
merged_page       : report.html of a merge of several runs (`cluster.merge`), without pytest.
"""
