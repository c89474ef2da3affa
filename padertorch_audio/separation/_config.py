"""Where ``config_of`` was imported from before every
:class:`padertorch_audio.Module` recorded its config (``module.config``,
see :mod:`padertorch_audio.base`); kept so that those imports work."""
from padertorch_audio.base import config_of

__all__ = ['config_of']
