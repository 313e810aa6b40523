"""``python -m train [--config FILE.yaml] [--resume] [--key=value ...]``: train a classifier."""

from train.train import main

if __name__ == "__main__":
    main()
