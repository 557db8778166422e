"""Train SRCNN: python train.py [train|resume|inspect] --help (see srcnn/cli/train.py)."""
from srcnn.cli.train import main

main()
