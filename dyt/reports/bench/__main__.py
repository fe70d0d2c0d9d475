from dyt.reports.bench.cli import main

main()
