"""What a checker hands the learner's code besides plain values, carried into the grader's sandbox as data.

A checker calls the learner's code on tensors and numbers, and sometimes on objects: a function to differentiate
(``grad_of(f, x)``), a network that notes how it was called (``evaluate_accuracy(net, batches)``), a linear model
over parameters that the same call updates (``train_epoch(net, [W, b], batches, lr)``), a PyTorch model with its
loss and optimiser (``train_step(net, loss_fn, optimizer, X, y)``). In a class grading (:mod:`book.protocol`) the
planned cases cross into the sandbox as data, never pickle; this module says how such objects do:

- **in the plan** each object is stored once (``{"$": "ref"}`` to an entry of the plan's ``objects``), so that
  one object given to several calls stays one object in the sandbox, as in self-study. A :class:`Probe` is stored
  by its kind and its data; an ``nn.Module`` by its architecture (a fixed set of layer classes), its parameters
  and buffers and the mode of each submodule; an optimiser (``torch.optim.SGD``) by its settings and the module
  whose parameters it updates (that module must come first in the case's arguments).
- **after each call** the recording writes the object's state: a probe's own :meth:`Probe.state` (how often it
  was called...), a module's mode and parameters (:func:`book.protocol.describe_module`); the judge puts that
  state back into the checker's own objects (:mod:`book.replay`).

- **drivers** (:data:`DRIVERS`): trusted loops that call the learner's functions a number of times the answers
  decide (one epoch per learning rate the learner chose), run in the sandbox by a case with ``driver=``.

Everything here runs on both sides: the grader plans with it, the sandbox rebuilds and records with it. What is
read from a plan is built only from the classes listed here.
"""

from __future__ import annotations

PLAN_OBJECTS = 256  # objects one plan may hold


class Probe:
    """An object a case gives the learner's code, with a state the checker reads after the call."""

    kind = ""

    def tensors(self) -> list:
        """The tensors it holds, which other arguments of the cases may share (stored once in the plan)."""
        return []

    def spec(self) -> dict:
        """Its data for the plan: tensors, numbers, strings, lists and dicts of them."""
        return {}

    @classmethod
    def build(cls, spec: dict) -> "Probe":
        """The object again, from the decoded ``spec`` (in the sandbox)."""
        return cls()

    def state(self) -> dict:
        """What the checker reads after a call, as plain values (recorded in the sandbox)."""
        return {}

    def apply_state(self, state: dict) -> None:
        """Put a recorded state into this object (in the judge); ``state`` is untrusted: check each value."""


# --- functions to differentiate ---------------------------------------------------------------------------------

def _sum_of_cubes(t):
    return (t ** 3).sum()


def _sum_of_sin_times_x(t):
    return (t.sin() * t).sum()


def _sum_of_exp(t):
    return t.exp().sum()


FUNCTIONS = {  # name -> (how a message shows it, the function)
    "sum_of_cubes": ("f(x) = sum(x**3)", _sum_of_cubes),
    "sum_of_sin_times_x": ("f(x) = sum(sin(x) * x)", _sum_of_sin_times_x),
    "sum_of_exp": ("f(x) = sum(exp(x))", _sum_of_exp),
}


class Function(Probe):
    """One of the scalar functions of :data:`FUNCTIONS`, to be passed to the learner's code."""

    kind = "function"

    def __init__(self, name: str):
        if name not in FUNCTIONS:
            raise ValueError(f"no function {name!r}; choose one of {sorted(FUNCTIONS)}")
        self.name = name
        self.label, self._f = FUNCTIONS[name]
        self.__name__ = name

    def __call__(self, t):
        return self._f(t)

    def __repr__(self) -> str:
        return self.label

    def spec(self) -> dict:
        return {"name": self.name}

    @classmethod
    def build(cls, spec: dict) -> "Function":
        return cls(str(spec.get("name")))


# --- networks that note how they were called --------------------------------------------------------------------

class RecordingNet(Probe):
    """A fixed linear model from 2 features to 3 classes that notes how it was called: how often, and whether
    with gradient tracking on (evaluation must build no graph)."""

    kind = "recording_net"

    def __init__(self, weight=None):
        import torch

        self.weight = torch.tensor([[1.0, -1.0, 0.5], [-1.0, 1.0, 0.5]], requires_grad=True) if weight is None \
            else weight
        self.calls, self.grad_enabled = 0, False

    def __call__(self, X):
        import torch

        self.calls += 1
        self.grad_enabled |= torch.is_grad_enabled()
        return X @ self.weight

    def tensors(self) -> list:
        return [self.weight]

    def spec(self) -> dict:
        return {"weight": self.weight}

    @classmethod
    def build(cls, spec: dict) -> "RecordingNet":
        import torch

        weight = spec.get("weight")
        if not isinstance(weight, torch.Tensor):
            raise ValueError("a RecordingNet needs its weight")
        return cls(weight)

    def state(self) -> dict:
        return {"calls": int(self.calls), "grad_enabled": bool(self.grad_enabled)}

    def apply_state(self, state: dict) -> None:
        calls = state.get("calls")
        self.calls = calls if type(calls) is int and calls >= 0 else 0
        self.grad_enabled = state.get("grad_enabled") is True


class LinearModel(Probe):
    """``X @ W + b`` over parameters ``W`` (d, q) and ``b`` (q,) that the same call may update (training code is
    given both the model and its parameters): each input row is flattened to d features first."""

    kind = "linear_model"

    def __init__(self, W, b):
        self.W, self.b = W, b

    def __call__(self, X):
        return X.reshape(-1, self.W.shape[0]) @ self.W + self.b

    def __repr__(self) -> str:
        return f"LinearModel(d={self.W.shape[0]}, q={self.W.shape[1]})"

    def tensors(self) -> list:
        return [self.W, self.b]

    def spec(self) -> dict:
        return {"W": self.W, "b": self.b}

    @classmethod
    def build(cls, spec: dict) -> "LinearModel":
        import torch

        W, b = spec.get("W"), spec.get("b")
        if not (isinstance(W, torch.Tensor) and isinstance(b, torch.Tensor) and W.dim() == 2
                and b.shape == (W.shape[1],)):
            raise ValueError("a LinearModel needs W (d, q) and b (q,)")
        return cls(W, b)


PROBES = {cls.kind: cls for cls in (Function, RecordingNet, LinearModel)}


# --- drivers: trusted code that runs the learner's functions where a checker's loop cannot be planned ------------

def train_linear_sgd(lrs, batch_size, train_epoch, seed: int, val_size: int, split_seed: int, max_steps: int):
    """Softmax regression on Fashion-MNIST's training images less ``val_size`` validation images, trained with
    the learner's ``train_epoch``, one epoch per learning rate of ``lrs``, from W ~ N(0, 0.01^2) and b = 0 drawn
    with ``seed`` (which also orders the batches). Hands back each epoch's return value (stopping after one that
    is not a finite number) and the weights; nothing when the settings are invalid or over ``max_steps`` SGD steps
    (the checker refuses those itself). Used by a case with ``driver="train_linear_sgd"``: the number of calls
    depends on the learner's ``lrs``, so the calls cannot be planned one by one."""
    import math

    import torch

    from book.data import FastLoader, load_dataset
    from book.evaluation import validation_split

    n_train = 60_000 - val_size
    valid = type(batch_size) is int and 1 <= batch_size <= n_train and isinstance(lrs, (list, tuple)) and lrs \
        and all(type(lr) in (int, float) and math.isfinite(lr) and 0 < lr <= 10 for lr in lrs) \
        and len(lrs) * math.ceil(n_train / batch_size) <= max_steps
    if not valid:
        return {"losses": [], "W": None, "b": None}
    data = load_dataset("fashion-mnist")
    train_idx, _ = validation_split(len(data.train_labels), val_size, seed=split_seed)
    torch.manual_seed(seed)
    W = torch.normal(0, 0.01, size=(784, 10)).requires_grad_()
    b = torch.zeros(10, requires_grad=True)
    net = LinearModel(W, b)
    train_iter = FastLoader(data.train_images[train_idx], data.train_labels[train_idx], batch_size=batch_size,
                            seed=seed, device="cpu")
    losses = []
    for lr in lrs:
        loss = train_epoch(net, [W, b], train_iter, lr)
        losses.append(loss)
        if isinstance(loss, bool) or not isinstance(loss, (int, float)) or not math.isfinite(loss):
            break
    return {"losses": losses, "W": W.detach().clone(), "b": b.detach().clone()}


DRIVERS = {"train_linear_sgd": train_linear_sgd}


# --- PyTorch modules and optimisers -------------------------------------------------------------------------------

# the layer classes a plan may build, with the constructor arguments read from an instance
MODULES = {"Sequential": (), "Linear": ("in_features", "out_features"), "ReLU": (), "Dropout": ("p",),
           "Flatten": ("start_dim", "end_dim"), "Identity": (), "Softmax": ("dim",),
           "CrossEntropyLoss": ("reduction", "label_smoothing")}


def _architecture(module) -> dict:
    name = type(module).__name__
    if name not in MODULES or type(module).__module__.split(".")[0] != "torch":
        raise TypeError(f"a plan cannot carry a {name} module (only {', '.join(sorted(MODULES))})")
    args = {a: getattr(module, a) for a in MODULES[name]}
    if name == "Linear":
        args["bias"] = module.bias is not None
    return {"class": name, "args": args,
            "children": [[n, _architecture(m)] for n, m in module.named_children()]}


def _build_architecture(spec):
    from collections import OrderedDict

    from torch import nn

    name = spec.get("class") if isinstance(spec, dict) else None
    if name not in MODULES:
        raise ValueError(f"a plan asks for an unknown module {str(name)[:40]!r}")
    args = spec.get("args") if isinstance(spec.get("args"), dict) else {}
    if name == "Sequential":
        children = spec.get("children") if isinstance(spec.get("children"), list) else []
        return nn.Sequential(OrderedDict((str(n), _build_architecture(c)) for n, c in children))
    kwargs = {a: args[a] for a in MODULES[name] if a in args}
    if name == "Linear":
        kwargs["bias"] = args.get("bias") is not False
    return getattr(nn, name)(**kwargs)


def module_spec(module) -> dict:
    return {"architecture": _architecture(module),
            "state": [[n, t.detach()] for n, t in module.state_dict(keep_vars=True).items()],
            "requires_grad": [[n, bool(p.requires_grad)] for n, p in module.named_parameters()],
            "training": [[n, bool(m.training)] for n, m in module.named_modules()]}


def build_module(spec: dict):
    import torch

    module = _build_architecture(spec.get("architecture"))
    state = {str(n): t for n, t in spec.get("state", []) if isinstance(t, torch.Tensor)}
    with torch.no_grad():
        module.load_state_dict({k: v.detach() for k, v in state.items()}, strict=True)
    flags = dict((str(n), g is True) for n, g in spec.get("requires_grad", []))
    for n, p in module.named_parameters():
        p.requires_grad_(flags.get(n, True))
    modes = dict((str(n), t is True) for n, t in spec.get("training", []))
    for n, m in module.named_modules():
        m.training = modes.get(n, True)
    return module


OPTIMISER_OPTIONS = ("lr", "momentum", "weight_decay", "dampening", "nesterov")


def optimiser_spec(optimiser, modules: list) -> dict:
    """``modules``: (reference in the plan, module) of each module already in the plan."""
    if type(optimiser).__name__ != "SGD" or len(optimiser.param_groups) != 1:
        raise TypeError("a plan carries only a torch.optim.SGD with one parameter group")
    group = optimiser.param_groups[0]
    owners = []
    for ref, module in modules:
        names = {id(p): n for n, p in module.named_parameters()}
        if all(id(p) in names for p in group["params"]):
            owners.append((ref, [names[id(p)] for p in group["params"]]))
    if not owners:
        raise TypeError("an optimiser's module must come before it in the case's arguments")
    ref, names = owners[0]
    return {"module": ref, "params": names,
            "options": {k: group[k] for k in OPTIMISER_OPTIONS if k in group}}


def build_optimiser(spec: dict, module):
    import torch

    params = dict(module.named_parameters())
    chosen = [params[str(n)] for n in spec.get("params", []) if str(n) in params]
    options = spec.get("options") if isinstance(spec.get("options"), dict) else {}
    return torch.optim.SGD(chosen, **{k: options[k] for k in OPTIMISER_OPTIONS if k in options})


# --- the hooks of book.plain_data's Encoder and Decoder ---------------------------------------------------------

def plan_encoder_hook(encoder, value, depth):
    """In a plan: objects as references to the plan's ``objects`` (each stored once), else None."""
    import torch

    kind = None
    if isinstance(value, Probe):
        kind = "probe"
    elif isinstance(value, torch.nn.Module):
        kind = "module"
    elif isinstance(value, torch.optim.Optimizer):
        kind = "optimiser"
    if kind is None:
        return None
    memo = encoder.__dict__.setdefault("object_refs", {})
    objects = encoder.__dict__.setdefault("objects", [])
    if id(value) in memo:
        return {"$": "ref", "index": memo[id(value)][0]}
    if len(objects) >= PLAN_OBJECTS:
        raise ValueError("too many objects in one plan")

    if kind == "probe":
        entry = {"kind": "probe", "probe": value.kind, "spec": value.spec()}
    elif kind == "module":
        entry = {"kind": "module", "spec": module_spec(value)}
    else:
        modules = [(i, v) for i, v in memo.values() if isinstance(v, torch.nn.Module)]
        entry = {"kind": "optimiser", "spec": optimiser_spec(value, modules)}
    entry["spec"] = encoder.encode(entry["spec"], depth + 1, grad=True)
    objects.append(entry)
    memo[id(value)] = (len(objects) - 1, value)
    return {"$": "ref", "index": len(objects) - 1}


def plan_decoder_hook(decoder, obj, depth):
    """In the sandbox: a reference of the plan to the live object it stands for (built once)."""
    if obj.get("$") != "ref":
        raise ValueError(f"a plan holds no {str(obj.get('$'))[:20]!r}")
    raw = decoder.__dict__.get("objects_raw") or []
    built = decoder.__dict__.setdefault("objects_built", {})
    index = obj.get("index")
    if type(index) is not int or not 0 <= index < len(raw):
        raise ValueError("a reference to no object of the plan")
    if index not in built:
        entry = raw[index]
        kind = entry.get("kind")
        if kind == "probe":
            built[index] = PROBES[entry["probe"]].build(decoder.decode(entry.get("spec"), depth + 1))
        elif kind == "module":
            built[index] = build_module(decoder.decode(entry.get("spec"), depth + 1))
        elif kind == "optimiser":
            spec = decoder.decode(entry.get("spec"), depth + 1)
            module = plan_decoder_hook(decoder, {"$": "ref", "index": spec.get("module")}, depth + 1)
            built[index] = build_optimiser(spec, module)
        else:
            raise ValueError("a plan object of an unknown kind")
    return built[index]


def record_encoder_hook(encoder, value, depth):
    """In a record: a probe's state, a module's state (its mode and parameters), else None."""
    import torch

    from book.protocol import describe_module

    if isinstance(value, Probe) and type(value).kind in PROBES:
        return {"$": "probe", "kind": value.kind, "state": encoder.encode(value.state(), depth + 1)}
    if isinstance(value, torch.nn.Module):
        return {"$": "module", "state": describe_module(value, encoder)}
    return None
