"""Objects described by JSON-serialisable nested dicts.

A config is a dict with a ``'factory'`` entry (the dotted import path of a
class or function) and the keyword arguments of that factory::

    {'factory': 'padertorch_audio.train.optimizer.Adam',
     'lr': 0.001, 'betas': [0.9, 0.999], ...}

Values may themselves be configs (nested factories). ``Cls.get_config(updates)``
fills in every default of the factory's signature, recursively;
``Cls.from_config(config)`` builds the object.

Rules
-----
- A signature default that is a :class:`Configurable` subclass, or a dict with
  a ``'factory'`` entry, is a nested factory: its config is filled in too.
- Updates to a nested factory without a ``'factory'`` entry are merged into
  its defaults; an update that names another ``'factory'`` replaces the
  sub-config by that factory's defaults plus the given keys.
- Tuples become lists, so that ``json.loads(json.dumps(config)) == config``.
- Defaults that JSON cannot hold (functions, dtypes, ...) are left out of the
  config; the factory then uses its own default when it is built.
- An unknown key raises a ``ConfigError`` naming the key, its place in the
  config and the closest valid keys, before anything is built. A factory
  with ``**kwargs`` accepts any key.

>>> import torch
>>> config = Configurable.get_config(
...     {'factory': 'torch.nn.Linear', 'in_features': 3, 'out_features': 2})
>>> config['bias']
True
>>> Configurable.from_config(config)
Linear(in_features=3, out_features=2, bias=True)
>>> Configurable.get_config({'factory': 'torch.nn.Linear', 'in_feature': 3})
Traceback (most recent call last):
...
padertorch_audio.configurable.ConfigError: Unknown key 'in_feature' for factory torch.nn.Linear. Did you mean 'in_features', 'out_features'? Valid keys: bias, device, dtype, in_features, out_features
"""
import copy
import difflib
import importlib
import inspect
import json
import re

__all__ = [
    'Configurable',
    'ConfigError',
    'import_factory',
    'import_class',
    'factory_to_str',
    'get_config',
    'from_config',
    'build',
]


class ConfigError(ValueError):
    """A config names an unknown key or factory, or misses a required key."""


def import_factory(name: str):
    """Import ``'package.module.Name'`` (also ``'package.module.Class.attr'``)."""
    if not isinstance(name, str):
        return name
    parts = name.split('.')
    for split in range(len(parts) - 1, 0, -1):
        module_name = '.'.join(parts[:split])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            # Only swallow "this prefix is no module"; errors raised inside
            # an existing module must surface.
            if error.name is not None and (
                    module_name == error.name
                    or module_name.startswith(error.name + '.')):
                continue
            raise
        try:
            for attribute in parts[split:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            raise ConfigError(
                f'Cannot import factory {name!r}: module {module_name!r} has '
                f'no attribute {".".join(parts[split:])!r}.'
            ) from None
        return obj
    raise ConfigError(
        f'Cannot import factory {name!r}: no importable module in its path.')


#: A public name: no leading underscore (which also rules out ``__main__``).
_PUBLIC_NAME = re.compile(r'[A-Za-z][A-Za-z0-9_]*')


def _within(name, packages):
    return any(name == package or name.startswith(package + '.')
               for package in packages)


def _kind(value):
    if inspect.ismodule(value):
        return 'module'
    if inspect.isroutine(value):
        return 'function'
    return type(value).__name__


def import_class(name, base=object, packages=None):
    """The class defined at exactly the dotted path ``name``, or ConfigError.

    Unlike :func:`import_factory`, nothing is looked up through attributes
    of modules or re-exports: ``name`` must be ``<module>.<qualname>`` of
    a class, where ``<module>`` is the module that defines it
    (``cls.__module__``) and ``<qualname>`` its ``__qualname__``. Every
    part of the path must be a public name (no leading underscore). The
    names are read from the ``__dict__`` of the module and of enclosing
    classes (no module ``__getattr__``, no descriptors), and only modules
    inside ``packages`` are imported. Whatever is found must be a class
    and a subclass of ``base``. Nothing is called.

    Args:
        name: A dotted path, e.g. ``'torch.nn.modules.linear.Linear'``.
        base: The class the result must derive from.
        packages: Top-level package paths (e.g. ``('torch.nn',)``) that
            ``name``'s module must lie in; None: any.

    >>> import_class('torch.nn.modules.linear.Linear', packages=['torch.nn'])
    <class 'torch.nn.modules.linear.Linear'>
    >>> import_class('torch.nn.Linear')  # an alias of the class above
    Traceback (most recent call last):
    ...
    padertorch_audio.configurable.ConfigError: 'torch.nn.Linear' is not the path where the class is defined: it names torch.nn.modules.linear.Linear (write that path, not an alias)
    """
    def refuse(reason):
        return ConfigError(f'{name!r} is not {reason}')

    if not isinstance(name, str):
        raise ConfigError(f'A class path must be a string, found '
                          f'{type(name).__name__}.')
    parts = name.split('.')
    if len(parts) < 2 or not all(map(_PUBLIC_NAME.fullmatch, parts)):
        raise refuse('a dotted path of public names (module.Class)')
    if packages is not None and not _within(name, packages):
        raise refuse(f'inside {" or ".join(packages)}')
    for split in range(len(parts) - 1, 0, -1):
        module_name = '.'.join(parts[:split])
        if packages is not None and not _within(module_name, packages):
            break
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is not None and _within(module_name, [error.name]):
                continue  # this prefix is no module
            raise
        qualname = '.'.join(parts[split:])
        found, walked = module, module_name
        for part in parts[split:]:
            found, walked = vars(found).get(part), f'{walked}.{part}'
            if not inspect.isclass(found):
                break
        if found is None:
            raise refuse(f'a class: {walked} is not defined')
        if not inspect.isclass(found):
            raise refuse(f'a class: {walked} is a {_kind(found)}')
        if (found.__module__, found.__qualname__) != (module_name, qualname):
            raise refuse(f'the path where the class is defined: it names '
                         f'{found.__module__}.{found.__qualname__} (write '
                         f'that path, not an alias)')
        if not issubclass(found, base):
            raise refuse(f'a subclass of {base.__module__}.'
                         f'{base.__qualname__}')
        return found
    raise refuse('a class in an importable module')


def factory_to_str(factory) -> str:
    """The dotted path of a class or function (``str`` passes through)."""
    if isinstance(factory, str):
        return factory
    module = getattr(factory, '__module__', None)
    qualname = getattr(factory, '__qualname__', None)
    if module is None or qualname is None or '<locals>' in qualname:
        raise ConfigError(
            f'Factory {factory!r} has no importable dotted path; define it '
            f'at module level.')
    return f'{module}.{qualname}'


def _is_factory_config(value) -> bool:
    return isinstance(value, dict) and 'factory' in value


def _is_configurable_class(value) -> bool:
    return inspect.isclass(value) and issubclass(value, Configurable)


def _json_value(value):
    """JSON-compatible copy of ``value``, or raise TypeError."""
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f'dict keys must be str: {list(value)}')
        return {k: _json_value(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f'{type(value).__name__} is not JSON-serialisable')


def _signature(factory):
    """(parameters with defaults, required names, accepts **kwargs)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return {}, [], True
    defaults, required, var_kwargs = {}, [], False
    parameters = list(signature.parameters.values())
    if inspect.isclass(factory):
        parameters = parameters[1:]  # self
    for p in parameters:
        if p.kind is p.VAR_KEYWORD:
            var_kwargs = True
        elif p.kind is p.VAR_POSITIONAL or p.kind is p.POSITIONAL_ONLY:
            continue
        elif p.default is p.empty:
            required.append(p.name)
        else:
            defaults[p.name] = p.default
    return defaults, required, var_kwargs


def _where(path):
    return f' (at {".".join(path)})' if path else ''


def _merge(default: dict, updates: dict) -> dict:
    """``updates`` merged into the factory config ``default``, recursively."""
    merged = dict(default)
    for name, value in updates.items():
        if (isinstance(value, dict) and not _is_factory_config(value)
                and _is_factory_config(merged.get(name))):
            value = _merge(merged[name], value)
        merged[name] = value
    return merged


def _resolve(updates: dict, path=()) -> dict:
    """Fill the defaults of ``updates['factory']`` and apply ``updates``."""
    factory_name = factory_to_str(updates['factory'])
    factory = import_factory(factory_name)
    defaults, required, var_kwargs = _signature(factory)
    valid = sorted([*defaults, *required])

    unknown = [k for k in updates if k != 'factory' and k not in valid]
    if unknown and not var_kwargs:
        key = unknown[0]
        close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ''
        where = _where((*path, key)) if path else ''
        raise ConfigError(
            f'Unknown key {key!r} for factory {factory_name}{where}.'
            f'{hint} Valid keys: {", ".join(valid)}')

    config = {'factory': factory_name}
    for name, default in defaults.items():
        if _is_configurable_class(default):
            config[name] = {'factory': factory_to_str(default)}
        elif _is_factory_config(default):
            config[name] = copy.deepcopy(default)
        else:
            try:
                config[name] = _json_value(default)
            except TypeError:
                pass  # the factory keeps its own default

    for name, value in updates.items():
        if name == 'factory':
            continue
        if (isinstance(value, dict) and not _is_factory_config(value)
                and _is_factory_config(config.get(name))):
            # Merge into the default factory's config.
            value = _merge(config[name], value)
        config[name] = value

    missing = [name for name in required if name not in config]
    if missing:
        raise ConfigError(
            f'Missing required key(s) {", ".join(map(repr, missing))} for '
            f'factory {factory_name}{_where(path)}.')

    for name, value in config.items():
        if name != 'factory':
            config[name] = _normalize(value, (*path, name))
    return config


def _normalize(value, path):
    if _is_factory_config(value):
        return _resolve(value, path)
    if _is_configurable_class(value):
        return _resolve({'factory': value}, path)
    if isinstance(value, (list, tuple)):
        return [_normalize(v, (*path, str(i))) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _normalize(v, (*path, str(k))) for k, v in value.items()}
    return value


def get_config(updates: dict) -> dict:
    """The complete config for ``updates`` (which must name a factory)."""
    if not _is_factory_config(updates):
        raise ConfigError(
            f"A config must be a dict with a 'factory' entry, got {updates!r}.")
    return _resolve(updates)


def build(value, resolve=import_factory):
    """Build what a complete config describes (nested factories first).

    ``resolve`` turns a ``'factory'`` value into what is called (default
    :func:`import_factory`).
    """
    if _is_factory_config(value):
        factory = resolve(value['factory'])
        kwargs = {k: build(v, resolve) for k, v in value.items()
                  if k != 'factory'}
        return factory(**kwargs)
    if isinstance(value, list):
        return [build(v, resolve) for v in value]
    if isinstance(value, dict):
        return {k: build(v, resolve) for k, v in value.items()}
    return value


def from_config(config: dict):
    """Build the object that ``config`` describes (defaults filled in)."""
    return build(get_config(config))


class Configurable:
    """Mixin: describe instances by configs (see the module docstring).

    >>> from padertorch_audio.train.optimizer import Adam
    >>> config = Adam.get_config({'lr': 0.01})
    >>> config['factory'], config['lr'], config['betas']
    ('padertorch_audio.train.optimizer.Adam', 0.01, [0.9, 0.999])
    >>> Adam.from_config(config).lr
    0.01
    """

    @classmethod
    def get_config(cls, updates=None) -> dict:
        """All defaults of ``cls`` (or of ``updates['factory']``) and updates.

        ``updates`` may name another factory; when ``cls`` is a subclass of
        :class:`Configurable`, that factory must be ``cls`` or a subclass.
        The result is JSON-serialisable (a ``ConfigError`` says otherwise).
        """
        config = cls._complete_config(updates)
        try:
            json.dumps(config)
        except TypeError as error:
            raise ConfigError(
                f'Config of {config["factory"]} is not JSON-serialisable: '
                f'{error}') from None
        return config

    @classmethod
    def from_config(cls, config=None):
        """Build an instance from ``config`` (filled in like ``get_config``).

        Values that are already objects (e.g. a model instance) are passed
        through as they are.
        """
        return build(cls._complete_config(config))

    @classmethod
    def _complete_config(cls, updates):
        updates = dict(updates or {})
        if cls is Configurable and 'factory' not in updates:
            raise ConfigError(
                "Configurable.get_config needs a 'factory' entry (or call "
                "get_config on the class itself).")
        updates.setdefault('factory', cls)
        factory = import_factory(updates['factory'])
        if (cls is not Configurable and inspect.isclass(factory)
                and not issubclass(factory, cls)):
            raise ConfigError(
                f'{cls.__name__}.get_config: factory '
                f'{factory_to_str(updates["factory"])} is no subclass of '
                f'{factory_to_str(cls)}.')
        return get_config(updates)
