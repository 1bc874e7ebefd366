//! RMSprop (`torch.optim.RMSprop`): gradients divided by a running root mean square, with
//! optional momentum and centering.

use std::borrow::Cow;

use ferrite_tensor::{Float, Result};
use serde::{Deserialize, Serialize};

use super::base::{check_lr, check_non_negative};
use super::{HyperParam, Optim, UpdateRule};

const OP: &str = "RMSprop";

/// The hyper-parameters of [`RMSprop`], with PyTorch's names and defaults.
///
/// ```
/// use ferrite_nn::optim::{RMSpropConfig, UpdateRule};
/// let c = RMSpropConfig::default();
/// assert_eq!((c.lr, c.alpha, c.eps, c.weight_decay, c.momentum, c.centered), (1e-2, 0.99, 1e-8, 0.0, 0.0, false));
/// assert!(RMSpropConfig::new(0.01).with_momentum(0.9).with_centered(true).validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RMSpropConfig {
    /// The learning rate (PyTorch's default: `1e-2`).
    pub lr: f64,
    /// The smoothing constant of the running averages (default `0.99`).
    pub alpha: f64,
    /// Added to the denominator for numerical stability (default `1e-8`).
    pub eps: f64,
    /// L2 penalty added to the gradient: `g + weight_decay * p` (default 0).
    pub weight_decay: f64,
    /// The momentum factor (default 0: no momentum buffer).
    pub momentum: f64,
    /// Divide by an estimate of the gradient's variance instead of its second moment
    /// (default false).
    pub centered: bool,
}

impl Default for RMSpropConfig {
    /// PyTorch's defaults: `lr = 1e-2`, `alpha = 0.99`, `eps = 1e-8`, the rest off.
    ///
    /// ```
    /// use ferrite_nn::optim::RMSpropConfig;
    /// assert_eq!(RMSpropConfig::default(), RMSpropConfig::new(1e-2));
    /// ```
    fn default() -> Self {
        RMSpropConfig::new(1e-2)
    }
}

impl RMSpropConfig {
    /// RMSprop's defaults with learning rate `lr`.
    ///
    /// ```
    /// use ferrite_nn::optim::RMSpropConfig;
    /// assert_eq!(RMSpropConfig::new(0.001).alpha, 0.99);
    /// ```
    pub fn new(lr: f64) -> Self {
        RMSpropConfig {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        }
    }

    /// Sets the smoothing constant.
    ///
    /// ```
    /// use ferrite_nn::optim::RMSpropConfig;
    /// assert_eq!(RMSpropConfig::new(0.01).with_alpha(0.9).alpha, 0.9);
    /// ```
    pub fn with_alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets the term added to the denominator.
    ///
    /// ```
    /// use ferrite_nn::optim::RMSpropConfig;
    /// assert_eq!(RMSpropConfig::new(0.01).with_eps(1e-6).eps, 1e-6);
    /// ```
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the L2 weight decay.
    ///
    /// ```
    /// use ferrite_nn::optim::RMSpropConfig;
    /// assert_eq!(RMSpropConfig::new(0.01).with_weight_decay(1e-4).weight_decay, 1e-4);
    /// ```
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Sets the momentum factor.
    ///
    /// ```
    /// use ferrite_nn::optim::RMSpropConfig;
    /// assert_eq!(RMSpropConfig::new(0.01).with_momentum(0.9).momentum, 0.9);
    /// ```
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Turns centering on or off.
    ///
    /// ```
    /// use ferrite_nn::optim::RMSpropConfig;
    /// assert!(RMSpropConfig::new(0.01).with_centered(true).centered);
    /// ```
    pub fn with_centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }
}

/// RMSprop, exactly as `torch.optim.RMSprop` (single-tensor path).
///
/// For each parameter `p` with gradient `g` (buffers start at zero):
///
/// ```text
/// g = g + weight_decay * p                         (if weight_decay != 0)
/// v = alpha * v + (1 - alpha) * g * g              (square_avg)
/// centered: m = lerp(m, g, 1 - alpha)              (grad_avg)
///           den = sqrt(v - m * m) + eps
/// else:     den = sqrt(v) + eps
/// momentum > 0: b = momentum * b + g / den;  p = p - lr * b
/// else:         p = p - lr * g / den
/// ```
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{Optimizer, RMSprop, RMSpropConfig};
/// use ferrite_tensor::Tensor;
///
/// let w = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 1.0], &[2])?);
/// let mut opt = RMSprop::new(vec![w.clone()], RMSpropConfig::new(0.01).with_alpha(0.75))?;
/// w.set_grad(Some(Tensor::from_vec(vec![2.0, -2.0], &[2])?))?;
/// opt.step()?;
/// // v = 0.25 * 4 = 1, so the first step is lr * g / (1 + eps): about 0.02.
/// let p = w.value().to_vec();
/// assert!((p[0] - 0.98).abs() < 1e-7 && (p[1] - 1.02).abs() < 1e-7);
/// assert_eq!(opt.kind(), "rmsprop");
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub type RMSprop<T = f32> = Optim<RMSpropConfig, T>;

impl UpdateRule for RMSpropConfig {
    type Buffers<T: Float> = [Option<Vec<T>>; 3];
    const BUFFERS: &'static [&'static str] = &["square_avg", "momentum_buffer", "grad_avg"];

    fn name(&self) -> &'static str {
        OP
    }

    fn kind(&self) -> &'static str {
        "rmsprop"
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Checks the hyper-parameters as `torch.optim.RMSprop` does, in its order.
    ///
    /// # Errors
    /// `Invalid learning rate` (negative or not finite), `Invalid epsilon value`,
    /// `Invalid momentum value`, `Invalid weight_decay value`, `Invalid alpha value`
    /// (negative; NaN is refused everywhere).
    ///
    /// ```
    /// use ferrite_nn::optim::{RMSpropConfig, UpdateRule};
    /// let err = RMSpropConfig::new(0.01).with_alpha(-0.5).validate().unwrap_err();
    /// assert!(err.to_string().contains("Invalid alpha value: -0.5"));
    /// ```
    fn validate(&self) -> Result<()> {
        check_lr(OP, self.lr)?;
        check_non_negative(OP, "epsilon", self.eps)?;
        check_non_negative(OP, "momentum", self.momentum)?;
        check_non_negative(OP, "weight_decay", self.weight_decay)?;
        check_non_negative(OP, "alpha", self.alpha)
    }

    fn hyper_params(&mut self) -> Vec<(&'static str, HyperParam<'_>)> {
        vec![
            ("lr", HyperParam::Float(&mut self.lr)),
            ("alpha", HyperParam::Float(&mut self.alpha)),
            ("eps", HyperParam::Float(&mut self.eps)),
            ("weight_decay", HyperParam::Float(&mut self.weight_decay)),
            ("momentum", HyperParam::Float(&mut self.momentum)),
            ("centered", HyperParam::Bool(&mut self.centered)),
        ]
    }

    /// Only `square_avg`: `momentum_buffer` and `grad_avg` start at zero when momentum or
    /// centering is first used (e.g. once a scheduler cycles the momentum), so a state
    /// saved before that has none.
    fn required_buffers(&self) -> &'static [&'static str] {
        &Self::BUFFERS[..1]
    }

    /// PyTorch's `_single_tensor_rmsprop` for one parameter, element by element in the
    /// order of its tensor statements.
    fn update<T: Float>(
        &self,
        param: &mut [T],
        grad: &[T],
        [square_avg, momentum_buffer, grad_avg]: &mut Self::Buffers<T>,
        _step: u64,
    ) {
        let numel = param.len();
        let zeros = || vec![T::zero(); numel];
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
        // square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        let square_avg = square_avg.get_or_insert_with(zeros);
        let (alpha, one_minus_alpha) = (T::of(self.alpha), T::of(1.0 - self.alpha));
        for (v, &g) in square_avg.iter_mut().zip(grad.iter()) {
            *v = *v * alpha + one_minus_alpha * g * g;
        }
        let eps = T::of(self.eps);
        // avg = square_avg.sqrt(), or with centered: grad_avg.lerp_(grad, 1 - alpha);
        // avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_(); then avg.add_(eps)
        let denom: Vec<T> = if self.centered {
            let grad_avg = grad_avg.get_or_insert_with(zeros);
            lerp(grad_avg, &grad, 1.0 - self.alpha);
            square_avg
                .iter()
                .zip(grad_avg.iter())
                .map(|(&v, &m)| (v + -(m * m)).sqrt() + eps)
                .collect()
        } else {
            square_avg.iter().map(|&v| v.sqrt() + eps).collect()
        };
        let neg_lr = T::of(-self.lr);
        if self.momentum > 0.0 {
            // buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=-lr)
            let momentum = T::of(self.momentum);
            let buf = momentum_buffer.get_or_insert_with(zeros);
            for (((p, b), &g), &d) in param
                .iter_mut()
                .zip(buf.iter_mut())
                .zip(grad.iter())
                .zip(&denom)
            {
                *b = *b * momentum + g / d;
                *p += neg_lr * *b;
            }
        } else {
            // param.addcdiv_(grad, avg, value=-lr)
            for ((p, &g), &d) in param.iter_mut().zip(grad.iter()).zip(&denom) {
                *p += neg_lr * g / d;
            }
        }
    }
}

/// `m.lerp_(end, w)` as ATen computes it: `m + w * (end - m)` when `|w| < 0.5`, else
/// `end - (end - m) * (1 - w)`.
pub(super) fn lerp<T: Float>(m: &mut [T], end: &[T], weight: f64) {
    let (w, small_weight) = (T::of(weight), weight.abs() < 0.5);
    let one_minus_w = T::one() - w;
    for (m, &e) in m.iter_mut().zip(end) {
        *m = if small_weight {
            *m + w * (e - *m)
        } else {
            e - (e - *m) * one_minus_w
        };
    }
}
