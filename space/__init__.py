"""The Hugging Face Space that serves the app: ``python -m space.deploy`` uploads it (see README.md).

Not part of the app it deploys (the Space gets ``app.py``, ``fer/``, ``examples/``, ...) and not part
of training: it needs neither TensorFlow nor Gradio.
"""
