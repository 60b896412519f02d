"""The two torchvision modules Zennit and LXT import (see the package's docstring)."""
