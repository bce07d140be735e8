"""``python -m ml.evaluate --data DIR --json``: the evaluation command (``ml.studies.evaluate``)."""

from ml.studies.evaluate import main

if __name__ == "__main__":
    main()
