//! The [`Module`] trait, what every layer and model implements, and [`ModuleExt`], what every
//! module gets from it.

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result};

/// A layer or a model: a function of one input with named parameters, like `torch.nn.Module`.
///
/// A model is a struct with its layers as fields, `forward`, and `children` listing the
/// layers with their names. Everything else -- [`named_parameters`](ModuleExt::named_parameters),
/// [`parameters`](ModuleExt::parameters), buffers, `state_dict`, [`zero_grad`](ModuleExt::zero_grad),
/// [`train`](ModuleExt::train)/[`eval`](ModuleExt::eval) -- is derived by [`ModuleExt`] from one
/// walk over `own_parameters`, `own_buffers` and `children`, so the lists cannot disagree.
/// Parameter names are dotted paths (`conv1.weight`), the keys of a `state_dict`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Linear, Module, ModuleExt};
/// use ferrite_tensor::{Result, Tensor};
///
/// /// y = relu(fc(x))
/// struct Block { fc: Linear }
///
/// impl Module for Block {
///     fn forward(&self, x: &Var) -> Result<Var> {
///         self.fc.forward(x)?.relu()
///     }
///     fn children(&self) -> Vec<(String, &dyn Module)> {
///         vec![("fc".into(), &self.fc as &dyn Module)]
///     }
/// }
///
/// let block = Block { fc: Linear::new(4, 2) };
/// let names: Vec<String> = block.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["fc.weight", "fc.bias"]);
/// assert_eq!(block.type_name(), "Block");
/// let y = block.forward(&Var::new(Tensor::ones(&[3, 4])))?;
/// assert_eq!(y.shape(), vec![3, 2]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub trait Module<T: Float = f32>: Send + Sync {
    /// Applies the module to `input`.
    ///
    /// # Errors
    /// When the input's shape does not fit the module (the message names the layer's op).
    fn forward(&self, input: &Var<T>) -> Result<Var<T>>;

    /// Sub-modules in the order they are applied, with their names (the middle parts of the
    /// dotted parameter names).
    fn children(&self) -> Vec<(String, &dyn Module<T>)> {
        Vec::new()
    }

    /// Parameters held directly by this module (not by its children), with local names.
    fn own_parameters(&self) -> Vec<(String, Var<T>)> {
        Vec::new()
    }

    /// Buffers held directly by this module: state saved with the parameters but not
    /// trained, e.g. batch norm's running means.
    fn own_buffers(&self) -> Vec<(String, Var<T>)> {
        Vec::new()
    }

    /// Switches this module (not its children: [`ModuleExt::train`] walks them) between
    /// training and evaluation behaviour. Only layers that behave differently (dropout,
    /// batch norm) override it; they keep the flag in a `Cell`-like atomic, so a shared
    /// reference is enough.
    fn set_training(&self, _training: bool) {}

    /// Whether this module is in training mode (PyTorch's `module.training`). Modules that
    /// behave the same in both modes keep no flag and always answer `true`.
    fn is_training(&self) -> bool {
        true
    }

    /// The layer's kind, e.g. `"Conv2d"` (used by `summary`). Defaults to the type's name
    /// without its path and generic arguments.
    fn type_name(&self) -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }

    /// A one-line description with the layer's settings, e.g. `Conv2d(1, 16, kernel_size=[3, 3])`.
    fn describe(&self) -> String {
        self.type_name().to_string()
    }

    /// Multiply-adds this module performs to produce an output of `output_shape` (for
    /// [`summary`](crate::summary)); 0 for layers whose cost is negligible.
    fn multiply_adds(&self, _output_shape: &[usize]) -> u64 {
        0
    }
}

/// `ferrite_nn::Linear<f32>` -> `Linear`.
fn short_type_name(full: &'static str) -> &'static str {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// Calls `f(path, module)` for `module` and every module below it, parents first, children
/// in order; `path` is the dotted name (`""` for `module` itself, `"layer1.0.conv1"` below).
/// The one walk every derived list is made from.
///
/// ```
/// use ferrite_nn::{visit_modules, Linear, ReLU, Sequential};
/// let model = Sequential::<f32>::new()
///     .add_module("fc", Linear::new(2, 2))
///     .add_module("act", ReLU);
/// let mut seen = Vec::new();
/// visit_modules(&model, &mut |path, m| seen.push(format!("{path}:{}", m.type_name())));
/// assert_eq!(seen, [":Sequential", "fc:Linear", "act:ReLU"]);
/// ```
pub fn visit_modules<'m, T: Float>(
    module: &'m dyn Module<T>,
    f: &mut dyn FnMut(&str, &'m dyn Module<T>),
) {
    fn walk<'m, T: Float>(
        path: &str,
        module: &'m dyn Module<T>,
        f: &mut dyn FnMut(&str, &'m dyn Module<T>),
    ) {
        f(path, module);
        for (name, child) in module.children() {
            walk(&join(path, &name), child, f);
        }
    }
    walk("", module, f);
}

/// `prefix.name`, or `name` at the top.
pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// What every [`Module`] gets from its `children`, `own_parameters` and `own_buffers`:
/// implemented once for all modules (it cannot be overridden, so the lists always agree).
/// In `ferrite::prelude`, and needed in scope to call these methods.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Linear, ModuleExt, ReLU, Sequential};
/// use ferrite_tensor::Tensor;
/// let model = Sequential::<f32>::new()
///     .append(Linear::new(3, 4))
///     .append(ReLU);
/// assert_eq!(model.num_parameters(), 3 * 4 + 4);
/// model.eval();
/// model.train();
/// model.zero_grad();
/// ```
pub trait ModuleExt<T: Float>: Module<T> {
    /// Every parameter with its dotted name, children included: for each module its own
    /// parameters, then its children's in order (PyTorch's `named_parameters()`).
    fn named_parameters(&self) -> Vec<(String, Var<T>)>;
    /// Every buffer with its dotted name, children included (PyTorch's `named_buffers()`).
    fn named_buffers(&self) -> Vec<(String, Var<T>)>;
    /// Every parameter, children included, in `named_parameters` order.
    fn parameters(&self) -> Vec<Var<T>>;
    /// The number of trainable scalars.
    fn num_parameters(&self) -> usize;
    /// Clears the gradient of every parameter.
    fn zero_grad(&self);
    /// Training mode (the default): dropout drops, batch norm uses batch statistics.
    fn train(&self);
    /// Evaluation mode: dropout is the identity, batch norm uses running statistics.
    fn eval(&self);
}

impl<T: Float, M: Module<T> + AsDynModule<T> + ?Sized> ModuleExt<T> for M {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        named(self, |m| m.own_parameters())
    }

    fn named_buffers(&self) -> Vec<(String, Var<T>)> {
        named(self, |m| m.own_buffers())
    }

    fn parameters(&self) -> Vec<Var<T>> {
        self.named_parameters()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    fn num_parameters(&self) -> usize {
        self.parameters()
            .iter()
            .map(|p| p.shape().iter().product::<usize>())
            .sum()
    }

    fn zero_grad(&self) {
        for p in self.parameters() {
            p.zero_grad();
        }
    }

    fn train(&self) {
        visit_modules(self.as_dyn(), &mut |_, m| m.set_training(true));
    }

    fn eval(&self) {
        visit_modules(self.as_dyn(), &mut |_, m| m.set_training(false));
    }
}

/// `own(m)` of every module below `module`, with dotted names.
pub(crate) fn named<T: Float, M: AsDynModule<T> + ?Sized>(
    module: &M,
    own: impl Fn(&dyn Module<T>) -> Vec<(String, Var<T>)>,
) -> Vec<(String, Var<T>)> {
    let mut out = Vec::new();
    visit_modules(module.as_dyn(), &mut |path, m| {
        out.extend(own(m).into_iter().map(|(name, v)| (join(path, &name), v)));
    });
    out
}

/// Upcasting any module (sized or a `dyn Module` already) to `&dyn Module`.
pub trait AsDynModule<T: Float> {
    /// `self` as a trait object.
    fn as_dyn(&self) -> &dyn Module<T>;
}

impl<T: Float, M: Module<T>> AsDynModule<T> for M {
    fn as_dyn(&self) -> &dyn Module<T> {
        self
    }
}

impl<T: Float> AsDynModule<T> for dyn Module<T> + '_ {
    fn as_dyn(&self) -> &dyn Module<T> {
        self
    }
}

impl<T: Float, M: Module<T> + ?Sized> Module<T> for Box<M> {
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        (**self).forward(input)
    }
    fn children(&self) -> Vec<(String, &dyn Module<T>)> {
        (**self).children()
    }
    fn own_parameters(&self) -> Vec<(String, Var<T>)> {
        (**self).own_parameters()
    }
    fn own_buffers(&self) -> Vec<(String, Var<T>)> {
        (**self).own_buffers()
    }
    fn set_training(&self, training: bool) {
        (**self).set_training(training)
    }
    fn is_training(&self) -> bool {
        (**self).is_training()
    }
    fn type_name(&self) -> &'static str {
        (**self).type_name()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn multiply_adds(&self, output_shape: &[usize]) -> u64 {
        (**self).multiply_adds(output_shape)
    }
}

/// The training/evaluation flag of a layer that behaves differently in the two modes,
/// settable through a shared reference (what [`Module::set_training`] gets). Starts in
/// training mode, as PyTorch's modules do.
pub(crate) struct TrainingFlag(std::sync::atomic::AtomicBool);

impl TrainingFlag {
    pub(crate) fn get(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn set(&self, training: bool) {
        self.0.store(training, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Default for TrainingFlag {
    fn default() -> Self {
        TrainingFlag(std::sync::atomic::AtomicBool::new(true))
    }
}

impl Clone for TrainingFlag {
    fn clone(&self) -> Self {
        TrainingFlag(std::sync::atomic::AtomicBool::new(self.get()))
    }
}

impl std::fmt::Debug for TrainingFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}
