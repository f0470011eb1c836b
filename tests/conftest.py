import os
import sys

# Keras 3 is a numerical reference here; it must run on JAX (no TensorFlow is installed).
os.environ.setdefault('KERAS_BACKEND', 'jax')
sys.path.insert(0, os.path.dirname(__file__))
