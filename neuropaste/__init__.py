"""neuropaste: paste a copied synaptic connectivity map onto silicon."""

from neuropaste.cmap import ConnectivityMap
from neuropaste.errors import InputError
from neuropaste.ir import Network

__all__ = ["ConnectivityMap", "InputError", "Network"]
__version__ = "0.1.0"
