from dyt.run.cli import main

main()
