//! Adagrad (`torch.optim.Adagrad`): each coordinate's step divided by the root of the sum of
//! its past squared gradients.

use std::borrow::Cow;

use ferrite_tensor::{Float, Result};
use serde::{Deserialize, Serialize};

use super::base::{check_lr, check_non_negative};
use super::{HyperParam, Optim, UpdateRule};

const OP: &str = "Adagrad";

/// The hyper-parameters of [`Adagrad`], with PyTorch's names and defaults.
///
/// ```
/// use ferrite_nn::optim::{AdagradConfig, UpdateRule};
/// let c = AdagradConfig::default();
/// assert_eq!((c.lr, c.lr_decay, c.weight_decay, c.initial_accumulator_value, c.eps), (1e-2, 0.0, 0.0, 0.0, 1e-10));
/// assert!(AdagradConfig::new(0.1).with_lr_decay(0.01).validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdagradConfig {
    /// The learning rate (PyTorch's default: `1e-2`).
    pub lr: f64,
    /// The learning rate at step `t` is `lr / (1 + (t - 1) * lr_decay)` (default 0).
    pub lr_decay: f64,
    /// L2 penalty added to the gradient: `g + weight_decay * p` (default 0).
    pub weight_decay: f64,
    /// The starting value of the sum of squared gradients (default 0).
    pub initial_accumulator_value: f64,
    /// Added to the denominator for numerical stability (default `1e-10`).
    pub eps: f64,
}

impl Default for AdagradConfig {
    /// PyTorch's defaults: `lr = 1e-2`, `eps = 1e-10`, the rest 0.
    ///
    /// ```
    /// use ferrite_nn::optim::AdagradConfig;
    /// assert_eq!(AdagradConfig::default(), AdagradConfig::new(1e-2));
    /// ```
    fn default() -> Self {
        AdagradConfig::new(1e-2)
    }
}

impl AdagradConfig {
    /// Adagrad's defaults with learning rate `lr`.
    ///
    /// ```
    /// use ferrite_nn::optim::AdagradConfig;
    /// assert_eq!(AdagradConfig::new(0.1).eps, 1e-10);
    /// ```
    pub fn new(lr: f64) -> Self {
        AdagradConfig {
            lr,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
        }
    }

    /// Sets the learning-rate decay.
    ///
    /// ```
    /// use ferrite_nn::optim::AdagradConfig;
    /// assert_eq!(AdagradConfig::new(0.1).with_lr_decay(0.5).lr_decay, 0.5);
    /// ```
    pub fn with_lr_decay(mut self, lr_decay: f64) -> Self {
        self.lr_decay = lr_decay;
        self
    }

    /// Sets the L2 weight decay.
    ///
    /// ```
    /// use ferrite_nn::optim::AdagradConfig;
    /// assert_eq!(AdagradConfig::new(0.1).with_weight_decay(1e-4).weight_decay, 1e-4);
    /// ```
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Sets the starting value of the accumulated squares.
    ///
    /// ```
    /// use ferrite_nn::optim::AdagradConfig;
    /// assert_eq!(AdagradConfig::new(0.1).with_initial_accumulator_value(0.1).initial_accumulator_value, 0.1);
    /// ```
    pub fn with_initial_accumulator_value(mut self, value: f64) -> Self {
        self.initial_accumulator_value = value;
        self
    }

    /// Sets the term added to the denominator.
    ///
    /// ```
    /// use ferrite_nn::optim::AdagradConfig;
    /// assert_eq!(AdagradConfig::new(0.1).with_eps(1e-8).eps, 1e-8);
    /// ```
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
}

/// Adagrad, exactly as `torch.optim.Adagrad` (single-tensor path, dense gradients).
///
/// For each parameter `p` with gradient `g`, at its step `t` (counted from 1), with the
/// sum `s` starting at `initial_accumulator_value`:
///
/// ```text
/// g = g + weight_decay * p                    (if weight_decay != 0)
/// clr = lr / (1 + (t - 1) * lr_decay)         (in f64)
/// s = s + g * g
/// p = p - clr * g / (sqrt(s) + eps)
/// ```
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{Adagrad, AdagradConfig, Optimizer};
/// use ferrite_tensor::Tensor;
///
/// let w = Var::parameter(Tensor::<f64>::from_vec(vec![1.0], &[1])?);
/// let mut opt = Adagrad::new(vec![w.clone()], AdagradConfig::new(0.1))?;
/// w.set_grad(Some(Tensor::from_vec(vec![3.0], &[1])?))?;
/// opt.step()?; // s = 9: p = 1 - 0.1 * 3 / 3
/// assert!((w.value().to_vec()[0] - 0.9).abs() < 1e-9);
/// assert_eq!(opt.state().params[0].buffers["sum"].data, vec![9.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub type Adagrad<T = f32> = Optim<AdagradConfig, T>;

impl UpdateRule for AdagradConfig {
    type Buffers<T: Float> = [Option<Vec<T>>; 1];
    const BUFFERS: &'static [&'static str] = &["sum"];

    fn name(&self) -> &'static str {
        OP
    }

    fn kind(&self) -> &'static str {
        "adagrad"
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Checks the hyper-parameters as `torch.optim.Adagrad` does, in its order.
    ///
    /// # Errors
    /// `Invalid learning rate` (negative or not finite), `Invalid lr_decay value`,
    /// `Invalid weight_decay value`, `Invalid initial_accumulator_value value`,
    /// `Invalid epsilon value` (negative; NaN is refused everywhere).
    ///
    /// ```
    /// use ferrite_nn::optim::{AdagradConfig, UpdateRule};
    /// let err = AdagradConfig::new(0.1).with_lr_decay(-0.1).validate().unwrap_err();
    /// assert!(err.to_string().contains("Invalid lr_decay value: -0.1"));
    /// ```
    fn validate(&self) -> Result<()> {
        check_lr(OP, self.lr)?;
        check_non_negative(OP, "lr_decay", self.lr_decay)?;
        check_non_negative(OP, "weight_decay", self.weight_decay)?;
        check_non_negative(
            OP,
            "initial_accumulator_value",
            self.initial_accumulator_value,
        )?;
        check_non_negative(OP, "epsilon", self.eps)
    }

    fn hyper_params(&mut self) -> Vec<(&'static str, HyperParam<'_>)> {
        vec![
            ("lr", HyperParam::Float(&mut self.lr)),
            ("lr_decay", HyperParam::Float(&mut self.lr_decay)),
            ("weight_decay", HyperParam::Float(&mut self.weight_decay)),
            (
                "initial_accumulator_value",
                HyperParam::Float(&mut self.initial_accumulator_value),
            ),
            ("eps", HyperParam::Float(&mut self.eps)),
        ]
    }

    fn required_buffers(&self) -> &'static [&'static str] {
        Self::BUFFERS
    }

    /// PyTorch's `_single_tensor_adagrad` for one parameter. PyTorch fills `sum` with
    /// `initial_accumulator_value` when the optimizer is built; here it is filled at the
    /// first update, which gives the same numbers.
    fn update<T: Float>(
        &self,
        param: &mut [T],
        grad: &[T],
        [sum]: &mut Self::Buffers<T>,
        step: u64,
    ) {
        let initial = T::of(self.initial_accumulator_value);
        let sum = sum.get_or_insert_with(|| vec![initial; param.len()]);
        let mut grad = Cow::Borrowed(grad);
        if self.weight_decay != 0.0 {
            // grad = grad.add(param, alpha=weight_decay)
            let weight_decay = T::of(self.weight_decay);
            grad = Cow::Owned(
                grad.iter()
                    .zip(&*param)
                    .map(|(&g, &p)| g + weight_decay * p)
                    .collect(),
            );
        }
        // clr = lr / (1 + (step - 1) * lr_decay), a Python float
        let clr = self.lr / (1.0 + (step - 1) as f64 * self.lr_decay);
        let (eps, neg_clr) = (T::of(self.eps), T::of(-clr));
        // state_sum.addcmul_(grad, grad, value=1); std = state_sum.sqrt().add_(eps)
        // param.addcdiv_(grad, std, value=-clr)
        for ((p, s), &g) in param.iter_mut().zip(sum.iter_mut()).zip(grad.iter()) {
            *s += g * g;
            let std = s.sqrt() + eps;
            *p += neg_clr * g / std;
        }
    }
}
