//! `Residual`: `y = activation(body(x) + shortcut(x))`, the skip connection of a ResNet block,
//! without a hand-written `Module`.

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result, TensorError};

use crate::{Module, ModuleExt};

/// A residual block: `y = body(x) + shortcut(x)`, optionally followed by an activation
/// applied to the sum (`relu(out + skip)` in ResNet's BasicBlock).
///
/// The body is transparent in the parameter names: its own parameters and its children
/// appear directly under the block's name, as the fields of a PyTorch block do. So a
/// block built from a [`Sequential`](crate::Sequential) of `conv1`, `bn1`, `relu`, `conv2`,
/// `bn2`, with the shortcut named `downsample`, has PyTorch's BasicBlock names:
/// `conv1.weight`, `bn1.running_mean`, ..., `downsample.0.weight`. The shortcut is the
/// identity unless one is given with [`with_shortcut`](Self::with_shortcut) (torchvision's
/// `downsample = None`); the activation is a child named `activation` (it has no
/// parameters, so it adds no `state_dict` keys).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{BatchNorm2d, Conv2d, Module, ModuleExt, ReLU, Residual, Sequential};
/// use ferrite_tensor::Tensor;
/// // BasicBlock(16 -> 32, stride 2) with a projection shortcut.
/// let block = Residual::new(
///     Sequential::new()
///         .add_module("conv1", Conv2d::new(16, 32, 3).with_stride(2).with_padding(1).with_bias(false))
///         .add_module("bn1", BatchNorm2d::new(32))
///         .add_module("relu", ReLU)
///         .add_module("conv2", Conv2d::new(32, 32, 3).with_padding(1).with_bias(false))
///         .add_module("bn2", BatchNorm2d::new(32)),
/// )
/// .with_shortcut(
///     "downsample",
///     Sequential::new()
///         .append(Conv2d::new(16, 32, 1).with_stride(2).with_bias(false))
///         .append(BatchNorm2d::new(32)),
/// )
/// .with_activation(ReLU);
/// let names: Vec<String> = block.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names[0], "conv1.weight");
/// assert_eq!(names[names.len() - 3], "downsample.0.weight");
/// let y = block.forward(&Var::new(Tensor::<f32>::ones(&[2, 16, 8, 8])))?;
/// assert_eq!(y.shape(), vec![2, 32, 4, 4]);
///
/// // Without a projection the shapes must agree.
/// let bad = Residual::new(Conv2d::<f32>::new(16, 32, 1));
/// let err = bad.forward(&Var::new(Tensor::ones(&[2, 16, 8, 8]))).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "Residual: the body's output [2, 32, 8, 8] and the shortcut's [2, 16, 8, 8] must have \
///      the same shape (give a projection with with_shortcut)"
/// );
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub struct Residual<T: Float = f32> {
    body: Box<dyn Module<T>>,
    /// `None`: the identity.
    shortcut: Option<(String, Box<dyn Module<T>>)>,
    activation: Option<Box<dyn Module<T>>>,
}

/// The child name of the activation applied to the sum.
const ACTIVATION: &str = "activation";

impl<T: Float> Residual<T> {
    /// `y = body(x) + x`: an identity shortcut and no activation after the sum.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::{Module, ReLU, Residual};
    /// use ferrite_tensor::Tensor;
    /// let block = Residual::new(ReLU);
    /// let x = Var::new(Tensor::<f32>::from_vec(vec![-1.0, 2.0], &[2])?);
    /// assert_eq!(block.forward(&x)?.value().to_vec(), vec![-1.0, 4.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn new(body: impl Module<T> + 'static) -> Self {
        Residual {
            body: Box::new(body),
            shortcut: None,
            activation: None,
        }
    }

    /// Replaces the identity shortcut by `shortcut` (e.g. a 1x1 strided conv and a batch
    /// norm), whose parameters are named `<name>.<...>` (`downsample` in torchvision).
    ///
    /// ```
    /// use ferrite_nn::{Conv2d, Identity, ModuleExt, Residual};
    /// let block = Residual::<f32>::new(Identity).with_shortcut("proj", Conv2d::new(1, 1, 1));
    /// assert_eq!(block.named_parameters()[0].0, "proj.weight");
    /// ```
    pub fn with_shortcut(
        mut self,
        name: impl Into<String>,
        shortcut: impl Module<T> + 'static,
    ) -> Self {
        self.shortcut = Some((name.into(), Box::new(shortcut)));
        self
    }

    /// Applies `activation` to the sum: `y = activation(body(x) + shortcut(x))`.
    ///
    /// ```
    /// use ferrite_autograd::Var;
    /// use ferrite_nn::{Identity, Module, ReLU, Residual};
    /// use ferrite_tensor::Tensor;
    /// let block = Residual::new(Identity).with_activation(ReLU);
    /// let x = Var::new(Tensor::<f32>::from_vec(vec![-1.0, 2.0], &[2])?);
    /// assert_eq!(block.forward(&x)?.value().to_vec(), vec![0.0, 4.0]);
    /// # Ok::<(), ferrite_tensor::TensorError>(())
    /// ```
    pub fn with_activation(mut self, activation: impl Module<T> + 'static) -> Self {
        self.activation = Some(Box::new(activation));
        self
    }

    /// The residual branch `f`.
    ///
    /// ```
    /// use ferrite_nn::{Module, ReLU, Residual};
    /// assert_eq!(Residual::<f32>::new(ReLU).body().type_name(), "ReLU");
    /// ```
    pub fn body(&self) -> &dyn Module<T> {
        self.body.as_ref()
    }

    /// The shortcut, `None` for the identity.
    ///
    /// ```
    /// use ferrite_nn::{Identity, ReLU, Residual};
    /// assert!(Residual::<f32>::new(ReLU).shortcut().is_none());
    /// assert!(Residual::<f32>::new(ReLU).with_shortcut("s", Identity).shortcut().is_some());
    /// ```
    pub fn shortcut(&self) -> Option<&dyn Module<T>> {
        self.shortcut
            .as_ref()
            .map(|(_, s)| s.as_ref() as &dyn Module<T>)
    }

    /// A child name used twice (the body's children, the shortcut, the activation), which
    /// would give two parameters the same `state_dict` key.
    fn duplicate_name(&self) -> Option<String> {
        let names: Vec<String> = self.children().into_iter().map(|(n, _)| n).collect();
        names
            .iter()
            .enumerate()
            .find(|(i, n)| names[..*i].contains(n))
            .map(|(_, n)| n.clone())
    }
}

impl<T: Float> Module<T> for Residual<T> {
    /// # Shapes
    /// Whatever the body takes; the body and the shortcut must return the same shape.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        if let Some(name) = self.duplicate_name() {
            return Err(TensorError::invalid(
                "Residual",
                format!("two children are named '{name}'; every child needs its own name"),
            ));
        }
        let out = self.body.call(input)?;
        let skip = match &self.shortcut {
            Some((_, shortcut)) => shortcut.call(input)?,
            None => input.clone(),
        };
        if out.shape() != skip.shape() {
            return Err(TensorError::invalid(
                "Residual",
                format!(
                    "the body's output {:?} and the shortcut's {:?} must have the same shape \
                     (give a projection with with_shortcut)",
                    out.shape(),
                    skip.shape()
                ),
            ));
        }
        let sum = out.add(&skip)?;
        match &self.activation {
            Some(activation) => activation.call(&sum),
            None => Ok(sum),
        }
    }

    fn type_name(&self) -> &'static str {
        "Residual"
    }

    fn describe(&self) -> String {
        let shortcut = self
            .shortcut
            .as_ref()
            .map_or("identity", |(n, _)| n.as_str());
        let activation = self
            .activation
            .as_ref()
            .map_or_else(|| "None".to_string(), |a| a.describe());
        format!("Residual(shortcut={shortcut}, activation={activation})")
    }

    /// The body's children, then the shortcut, then the activation.
    fn children(&self) -> Vec<(String, &dyn Module<T>)> {
        let mut out = self.body.children();
        if let Some((name, shortcut)) = &self.shortcut {
            out.push((name.clone(), shortcut.as_ref() as &dyn Module<T>));
        }
        if let Some(activation) = &self.activation {
            out.push((
                ACTIVATION.to_string(),
                activation.as_ref() as &dyn Module<T>,
            ));
        }
        out
    }

    fn own_parameters(&self) -> Vec<(String, Var<T>)> {
        self.body.own_parameters()
    }

    fn own_buffers(&self) -> Vec<(String, Var<T>)> {
        self.body.own_buffers()
    }

    // The walk in `ModuleExt::train` visits the body's children but not the body itself.
    fn set_training(&self, training: bool) {
        self.body.set_training(training);
    }

    fn is_training(&self) -> bool {
        self.body.is_training()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BatchNorm2d, Identity, Linear, ReLU, Sequential};
    use ferrite_tensor::Tensor;

    #[test]
    fn duplicate_child_names_are_refused() {
        let block = Residual::<f32>::new(Sequential::new().add_module("activation", ReLU))
            .with_activation(ReLU);
        let err = block
            .forward(&Var::new(Tensor::ones(&[2])))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "Residual: two children are named 'activation'; every child needs its own name"
        );
    }

    #[test]
    fn a_module_body_lends_its_parameters_and_training_flag() {
        let block = Residual::<f64>::new(BatchNorm2d::new(3)).with_shortcut("s", Identity);
        let names: Vec<String> = block
            .named_parameters()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["weight", "bias"]);
        assert_eq!(block.named_buffers().len(), 3);
        block.eval();
        assert!(!block.is_training());
        block.train();
        assert!(block.is_training());
        let lin = Residual::<f64>::new(Linear::new(2, 2));
        assert_eq!(lin.num_parameters(), 6);
        assert_eq!(
            lin.describe(),
            "Residual(shortcut=identity, activation=None)"
        );
    }
}
