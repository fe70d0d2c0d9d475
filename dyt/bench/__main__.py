from dyt.bench.cli import main

main()
