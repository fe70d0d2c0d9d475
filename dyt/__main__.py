from dyt.train import main

main()
