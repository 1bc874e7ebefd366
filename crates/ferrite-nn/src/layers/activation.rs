//! Parameter-free layers: `ReLU`, `Sigmoid`, `Tanh`, `Flatten`, `Identity`.

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result};

use crate::Module;

/// `max(x, 0)` elementwise, like `torch.nn.ReLU`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Module, ReLU, ModuleExt};
/// use ferrite_tensor::Tensor;
/// let y = ReLU.forward(&Var::new(Tensor::<f32>::from_vec(vec![-1.0, 2.0], &[2])?))?;
/// assert_eq!(y.value().to_vec(), vec![0.0, 2.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ReLU;

impl<T: Float> Module<T> for ReLU {
    /// # Shapes
    /// Any shape; the output has the input's shape.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.relu()
    }
    fn type_name(&self) -> &'static str {
        "ReLU"
    }
    fn describe(&self) -> String {
        "ReLU()".into()
    }
}

/// `1 / (1 + e^-x)` elementwise, like `torch.nn.Sigmoid`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Module, Sigmoid, ModuleExt};
/// use ferrite_tensor::Tensor;
/// let y = Sigmoid.forward(&Var::new(Tensor::<f32>::zeros(&[1])))?;
/// assert_eq!(y.value().to_vec(), vec![0.5]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Sigmoid;

impl<T: Float> Module<T> for Sigmoid {
    /// # Shapes
    /// Any shape; the output has the input's shape.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.sigmoid()
    }
    fn type_name(&self) -> &'static str {
        "Sigmoid"
    }
    fn describe(&self) -> String {
        "Sigmoid()".into()
    }
}

/// Hyperbolic tangent elementwise, like `torch.nn.Tanh`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Module, Tanh, ModuleExt};
/// use ferrite_tensor::Tensor;
/// let y = Tanh.forward(&Var::new(Tensor::<f32>::zeros(&[1])))?;
/// assert_eq!(y.value().to_vec(), vec![0.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Tanh;

impl<T: Float> Module<T> for Tanh {
    /// # Shapes
    /// Any shape; the output has the input's shape.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.tanh()
    }
    fn type_name(&self) -> &'static str {
        "Tanh"
    }
    fn describe(&self) -> String {
        "Tanh()".into()
    }
}

/// Merges dims `start_dim..=end_dim` (default `1..=-1`), like `torch.nn.Flatten`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Flatten, Module, ModuleExt};
/// use ferrite_tensor::Tensor;
/// let y = Flatten::new().forward(&Var::new(Tensor::<f32>::zeros(&[64, 32, 7, 7])))?;
/// assert_eq!(y.shape(), vec![64, 1568]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Flatten {
    /// First dim to merge (default 1: keep the batch dim).
    pub start_dim: isize,
    /// Last dim to merge (default -1).
    pub end_dim: isize,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten {
            start_dim: 1,
            end_dim: -1,
        }
    }
}

impl Flatten {
    /// Merges every dim after the first (`nn.Flatten()`).
    ///
    /// ```
    /// assert_eq!(ferrite_nn::Flatten::new().start_dim, 1);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the first dim to merge (negative counts from the end).
    ///
    /// ```
    /// assert_eq!(ferrite_nn::Flatten::new().with_start_dim(0).start_dim, 0);
    /// ```
    pub fn with_start_dim(mut self, start_dim: isize) -> Self {
        self.start_dim = start_dim;
        self
    }

    /// Sets the last dim to merge (negative counts from the end).
    ///
    /// ```
    /// assert_eq!(ferrite_nn::Flatten::new().with_end_dim(2).end_dim, 2);
    /// ```
    pub fn with_end_dim(mut self, end_dim: isize) -> Self {
        self.end_dim = end_dim;
        self
    }
}

impl<T: Float> Module<T> for Flatten {
    /// # Shapes
    /// `[N, C, H, W]` → `[N, C·H·W]` with the defaults.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.flatten(self.start_dim, self.end_dim)
    }
    fn type_name(&self) -> &'static str {
        "Flatten"
    }
    fn describe(&self) -> String {
        format!(
            "Flatten(start_dim={}, end_dim={})",
            self.start_dim, self.end_dim
        )
    }
}

/// Returns its input unchanged, like `torch.nn.Identity`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Identity, Module, ModuleExt};
/// use ferrite_tensor::Tensor;
/// let x = Var::new(Tensor::<f32>::ones(&[2]));
/// assert_eq!(Identity.forward(&x)?.id(), x.id());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity;

impl<T: Float> Module<T> for Identity {
    /// # Shapes
    /// Any shape.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        Ok(input.clone())
    }
    fn type_name(&self) -> &'static str {
        "Identity"
    }
    fn describe(&self) -> String {
        "Identity()".into()
    }
}
