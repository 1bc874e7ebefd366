//! The [`Module`] trait: what every layer and model implements.

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result};

/// A layer or a model: a function of one input with named parameters, like `torch.nn.Module`.
///
/// Implementors provide [`forward`](Module::forward), [`type_name`](Module::type_name) and,
/// when they hold parameters, buffers or sub-modules, the `named_*` and `children` methods;
/// everything else is provided. Parameter names are dotted paths (`conv1.weight`), the keys
/// of a `state_dict`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Linear, Module};
/// use ferrite_tensor::{seeded_rng, Result, Tensor};
///
/// /// y = relu(fc(x))
/// struct Block { fc: Linear }
///
/// impl Module for Block {
///     fn forward(&self, x: &Var) -> Result<Var> {
///         self.fc.forward(x)?.relu()
///     }
///     fn type_name(&self) -> &'static str { "Block" }
///     fn children(&self) -> Vec<(String, &dyn Module)> {
///         vec![("fc".into(), &self.fc as &dyn Module)]
///     }
/// }
///
/// let block = Block { fc: Linear::new(4, 2, &mut seeded_rng(0)) };
/// let names: Vec<String> = block.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["fc.weight", "fc.bias"]);
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

    /// The layer's kind, e.g. `"Conv2d"` (used by `summary`).
    fn type_name(&self) -> &'static str;

    /// A one-line description with the layer's settings, e.g. `Conv2d(1, 16, kernel_size=[3, 3])`.
    fn describe(&self) -> String {
        self.type_name().to_string()
    }

    /// Multiply-adds this module performs to produce an output of `output_shape` (for
    /// [`summary`](crate::summary)); 0 for layers whose cost is negligible.
    fn multiply_adds(&self, _output_shape: &[usize]) -> u64 {
        0
    }

    /// Parameters held directly by this module (not by its children), with local names.
    fn own_parameters(&self) -> Vec<(String, Var<T>)> {
        Vec::new()
    }

    /// Buffers (state saved with the parameters but not trained, e.g. running means).
    fn own_buffers(&self) -> Vec<(String, Var<T>)> {
        Vec::new()
    }

    /// Sub-modules in the order they are applied, with their names.
    fn children(&self) -> Vec<(String, &dyn Module<T>)> {
        Vec::new()
    }

    /// Mutable access to the sub-modules (for [`train`](Module::train)/[`eval`](Module::eval)).
    fn children_mut(&mut self) -> Vec<&mut dyn Module<T>> {
        Vec::new()
    }

    /// Switches this module (not its children) between training and evaluation behaviour.
    /// Only layers that behave differently (dropout, batch norm) override it.
    fn set_training(&mut self, _training: bool) {}

    /// Every parameter with its dotted name, children included, in registration order.
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut out = self.own_parameters();
        for (child_name, child) in self.children() {
            for (name, p) in child.named_parameters() {
                out.push((format!("{child_name}.{name}"), p));
            }
        }
        out
    }

    /// Every buffer with its dotted name, children included.
    fn named_buffers(&self) -> Vec<(String, Var<T>)> {
        let mut out = self.own_buffers();
        for (child_name, child) in self.children() {
            for (name, b) in child.named_buffers() {
                out.push((format!("{child_name}.{name}"), b));
            }
        }
        out
    }

    /// Every parameter, children included.
    fn parameters(&self) -> Vec<Var<T>> {
        self.named_parameters()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// The number of trainable scalars.
    fn num_parameters(&self) -> usize {
        self.parameters()
            .iter()
            .map(|p| p.shape().iter().product::<usize>())
            .sum()
    }

    /// Clears the gradient of every parameter.
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.zero_grad();
        }
    }

    /// Training mode (the default): dropout drops, batch norm uses batch statistics.
    fn train(&mut self) {
        set_training_recursive(self, true);
    }

    /// Evaluation mode: dropout is the identity, batch norm uses running statistics.
    fn eval(&mut self) {
        set_training_recursive(self, false);
    }
}

fn set_training_recursive<T: Float, M: Module<T> + ?Sized>(module: &mut M, training: bool) {
    module.set_training(training);
    for child in module.children_mut() {
        set_training_recursive(child, training);
    }
}

impl<T: Float, M: Module<T> + ?Sized> Module<T> for Box<M> {
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        (**self).forward(input)
    }
    fn type_name(&self) -> &'static str {
        (**self).type_name()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn own_parameters(&self) -> Vec<(String, Var<T>)> {
        (**self).own_parameters()
    }
    fn multiply_adds(&self, output_shape: &[usize]) -> u64 {
        (**self).multiply_adds(output_shape)
    }
    fn own_buffers(&self) -> Vec<(String, Var<T>)> {
        (**self).own_buffers()
    }
    fn children(&self) -> Vec<(String, &dyn Module<T>)> {
        (**self).children()
    }
    fn children_mut(&mut self) -> Vec<&mut dyn Module<T>> {
        (**self).children_mut()
    }
    fn set_training(&mut self, training: bool) {
        (**self).set_training(training)
    }
}
