//! Stochastic gradient descent with momentum, dampening, weight decay and Nesterov momentum
//! (`torch.optim.SGD`).

use ferrite_tensor::{Float, Result, TensorError};
use serde::{Deserialize, Serialize};

use super::base::{check_lr, check_non_negative};
use super::{HyperParam, Optim, UpdateRule};

const OP: &str = "SGD";

/// The hyper-parameters of [`Sgd`], with PyTorch's names and defaults.
///
/// ```
/// use ferrite_nn::optim::{SgdConfig, UpdateRule};
/// let c = SgdConfig::new(0.1).with_momentum(0.9).with_nesterov(true);
/// assert_eq!((c.lr, c.momentum, c.dampening, c.weight_decay, c.nesterov), (0.1, 0.9, 0.0, 0.0, true));
/// assert!(c.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    /// The learning rate (PyTorch's default: `1e-3`).
    pub lr: f64,
    /// The momentum factor (default 0: plain SGD).
    pub momentum: f64,
    /// The dampening of the momentum (default 0). Not applied at the first step.
    pub dampening: f64,
    /// L2 penalty added to the gradient: `g + weight_decay * p` (default 0).
    pub weight_decay: f64,
    /// Nesterov momentum (default false); needs `momentum > 0` and `dampening == 0`.
    pub nesterov: bool,
}

impl Default for SgdConfig {
    /// PyTorch's defaults: `lr = 1e-3`, everything else off.
    ///
    /// ```
    /// use ferrite_nn::optim::SgdConfig;
    /// assert_eq!(SgdConfig::default(), SgdConfig::new(1e-3));
    /// ```
    fn default() -> Self {
        SgdConfig::new(1e-3)
    }
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr`.
    ///
    /// ```
    /// use ferrite_nn::optim::SgdConfig;
    /// assert_eq!(SgdConfig::new(0.5).momentum, 0.0);
    /// ```
    pub fn new(lr: f64) -> Self {
        SgdConfig {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }

    /// Sets the momentum factor.
    ///
    /// ```
    /// use ferrite_nn::optim::SgdConfig;
    /// assert_eq!(SgdConfig::new(0.1).with_momentum(0.9).momentum, 0.9);
    /// ```
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the dampening of the momentum.
    ///
    /// ```
    /// use ferrite_nn::optim::SgdConfig;
    /// assert_eq!(SgdConfig::new(0.1).with_dampening(0.5).dampening, 0.5);
    /// ```
    pub fn with_dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }

    /// Sets the L2 weight decay.
    ///
    /// ```
    /// use ferrite_nn::optim::SgdConfig;
    /// assert_eq!(SgdConfig::new(0.1).with_weight_decay(1e-4).weight_decay, 1e-4);
    /// ```
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Turns Nesterov momentum on or off.
    ///
    /// ```
    /// use ferrite_nn::optim::SgdConfig;
    /// assert!(SgdConfig::new(0.1).with_momentum(0.9).with_nesterov(true).nesterov);
    /// ```
    pub fn with_nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
}

/// Stochastic gradient descent, exactly as `torch.optim.SGD` (single-tensor path).
///
/// For each parameter `p` with gradient `g`, at step `t`:
///
/// ```text
/// g = g + weight_decay * p                       (if weight_decay != 0)
/// if momentum != 0:
///     b = g                                      (t = 1: no dampening)
///     b = momentum * b + (1 - dampening) * g     (t > 1)
///     g = g + momentum * b    if nesterov  else  g = b
/// p = p - lr * g
/// ```
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{Optimizer, Sgd, SgdConfig};
/// use ferrite_tensor::Tensor;
///
/// let w = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, -1.0], &[2])?);
/// let mut opt = Sgd::new(vec![w.clone()], SgdConfig::new(0.1).with_momentum(0.5))?;
/// for _ in 0..2 {
///     w.set_grad(Some(Tensor::ones(&[2])))?;
///     opt.step()?;
/// }
/// // buffer: 1, then 0.5 * 1 + 1 = 1.5; p = 1 - 0.1 - 0.15
/// assert!((w.value().to_vec()[0] - 0.75).abs() < 1e-15);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub type Sgd<T = f32> = Optim<SgdConfig, T>;

impl UpdateRule for SgdConfig {
    type Buffers<T: Float> = [Option<Vec<T>>; 1];
    const BUFFERS: &'static [&'static str] = &["momentum_buffer"];

    fn name(&self) -> &'static str {
        OP
    }

    fn kind(&self) -> &'static str {
        "sgd"
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Checks the hyper-parameters as `torch.optim.SGD` does.
    ///
    /// # Errors
    /// `Invalid learning rate` (negative or not finite), `Invalid momentum value`,
    /// `Invalid weight_decay value` (negative or NaN), `Invalid dampening value` (NaN or
    /// infinite), and Nesterov momentum without a positive momentum or with dampening.
    ///
    /// ```
    /// use ferrite_nn::optim::{SgdConfig, UpdateRule};
    /// let err = SgdConfig::new(-0.1).validate().unwrap_err();
    /// assert!(err.to_string().contains("Invalid learning rate"));
    /// assert!(SgdConfig::new(0.1).with_nesterov(true).validate().is_err());
    /// ```
    fn validate(&self) -> Result<()> {
        check_lr(OP, self.lr)?;
        check_non_negative(OP, "momentum", self.momentum)?;
        check_non_negative(OP, "weight_decay", self.weight_decay)?;
        if !self.dampening.is_finite() {
            return Err(TensorError::invalid(
                OP,
                format!("Invalid dampening value: {}", self.dampening),
            ));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(TensorError::invalid(
                OP,
                format!(
                    "Nesterov momentum requires a momentum and zero dampening (momentum {}, dampening {})",
                    self.momentum, self.dampening
                ),
            ));
        }
        Ok(())
    }

    fn hyper_params(&mut self) -> Vec<(&'static str, HyperParam<'_>)> {
        vec![
            ("lr", HyperParam::Float(&mut self.lr)),
            ("momentum", HyperParam::Float(&mut self.momentum)),
            ("dampening", HyperParam::Float(&mut self.dampening)),
            ("weight_decay", HyperParam::Float(&mut self.weight_decay)),
            ("nesterov", HyperParam::Bool(&mut self.nesterov)),
        ]
    }

    /// PyTorch's `_single_tensor_sgd` for one parameter, element by element: each element
    /// goes through the same operations as the tensor statements quoted, in their order, so
    /// the roundings are the same, in one pass and without temporary buffers. The momentum
    /// buffer is created at the first update with momentum (or when a loaded state has none).
    fn update<T: Float>(
        &self,
        param: &mut [T],
        grad: &[T],
        [momentum_buffer]: &mut Self::Buffers<T>,
        _step: u64,
    ) {
        let (weight_decay, momentum) = (T::of(self.weight_decay), T::of(self.momentum));
        let one_minus_dampening = T::of(1.0 - self.dampening);
        let neg_lr = T::of(-self.lr);
        let with_decay = self.weight_decay != 0.0;
        // grad = grad.add(param, alpha=weight_decay)
        let decayed = |g: T, p: T| if with_decay { g + weight_decay * p } else { g };
        if self.momentum == 0.0 {
            for (p, &g) in param.iter_mut().zip(grad) {
                // param.add_(grad, alpha=-lr)
                *p += neg_lr * decayed(g, *p);
            }
            return;
        }
        let first = momentum_buffer.is_none();
        let buf = momentum_buffer.get_or_insert_with(|| vec![T::zero(); grad.len()]);
        for ((p, &g), b) in param.iter_mut().zip(grad).zip(buf.iter_mut()) {
            let g = decayed(g, *p);
            // buf = torch.clone(grad) at the first step, then
            // buf.mul_(momentum).add_(grad, alpha=1 - dampening)
            *b = if first {
                g
            } else {
                *b * momentum + one_minus_dampening * g
            };
            // grad = grad.add(buf, alpha=momentum) with nesterov, else grad = buf
            let g = if self.nesterov { g + momentum * *b } else { *b };
            // param.add_(grad, alpha=-lr)
            *p += neg_lr * g;
        }
    }
}
