from dyt.reports.sweep import main

main()
