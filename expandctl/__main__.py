from expandctl.cli import main

main()
