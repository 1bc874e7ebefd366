//! The [`Module`] trait, what every layer and model implements, and [`ModuleExt`], what every
//! module gets from it.

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result, TensorError};

use crate::hooks::{self, ForwardHookHandle};

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

    /// Where this module lives and its type, which its forward hooks are keyed by (a
    /// struct and its first field share an address, not a type); `None` for a zero-sized
    /// module (no address of its own). Containers such as `Box` forward it to the module
    /// they hold. Not meant to be overridden.
    #[doc(hidden)]
    fn identity(&self) -> Option<(usize, &'static str)> {
        (std::mem::size_of_val(self) != 0).then_some((
            self as *const Self as *const () as usize,
            std::any::type_name::<Self>(),
        ))
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
    /// Runs the module: [`forward`](Module::forward), then its forward hooks (PyTorch's
    /// `module(x)`, where `forward` is what a module implements). Containers call their
    /// children this way; call your own submodules with `call` too if hooks on them should
    /// fire.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::{ModuleExt, ReLU};
    /// use ferrite_tensor::Tensor;
    /// let y = ReLU.call(&Var::new(Tensor::<f32>::from_vec(vec![-1.0, 2.0], &[2])?))?;
    /// assert_eq!(y.value().to_vec(), vec![0.0, 2.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    fn call(&self, input: &Var<T>) -> Result<Var<T>>;
    /// Registers `hook(input, output)` to run after every [`call`](ModuleExt::call) of this
    /// module (`register_forward_hook`); `Ok(Some(y))` replaces the output. Hooks belong to
    /// the module while it lives at its address; remove them with the handle before
    /// dropping the module.
    ///
    /// # Errors
    /// When the module is zero-sized (`ReLU`, `Tanh`, ...): such values have no address of
    /// their own to tell them apart; hook the module that contains it instead.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::{Flatten, Module, ModuleExt, ReLU, Sequential, Tanh};
    /// use ferrite_tensor::Tensor;
    /// let model = Sequential::<f32>::new().append(Tanh).append(Flatten::new()).append(ReLU);
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&seen);
    /// let handle = model.children()[1].1.register_forward_hook(move |_, y| {
    ///     log.lock().unwrap().push(y.shape()); // e.g. keep a feature map
    ///     Ok(None)
    /// })?;
    /// model.forward(&Var::new(Tensor::zeros(&[2, 3, 4])))?;
    /// assert_eq!(*seen.lock().unwrap(), vec![vec![2, 12]]);
    /// handle.remove();
    /// assert!(ReLU.register_forward_hook(|_, _: &Var<f32>| Ok(None)).is_err());
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    fn register_forward_hook(
        &self,
        hook: impl Fn(&Var<T>, &Var<T>) -> Result<Option<Var<T>>> + Send + Sync + 'static,
    ) -> Result<ForwardHookHandle>;
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

    fn call(&self, input: &Var<T>) -> Result<Var<T>> {
        let output = self.forward(input)?;
        match self.identity() {
            Some(id) => hooks::run(id, input, output),
            None => Ok(output),
        }
    }

    fn register_forward_hook(
        &self,
        hook: impl Fn(&Var<T>, &Var<T>) -> Result<Option<Var<T>>> + Send + Sync + 'static,
    ) -> Result<ForwardHookHandle> {
        let Some(id) = self.identity() else {
            return Err(TensorError::invalid(
                "register_forward_hook",
                format!(
                    "{} is zero-sized, so it has no address to tell it from another {0}; hook the module that contains it",
                    self.type_name()
                ),
            ));
        };
        Ok(hooks::register(id, hook))
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
    fn identity(&self) -> Option<(usize, &'static str)> {
        (**self).identity()
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
