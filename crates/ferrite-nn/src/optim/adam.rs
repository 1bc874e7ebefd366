//! Adam and AdamW (`torch.optim.Adam`, `torch.optim.AdamW`): one update rule, where AdamW is
//! Adam with decoupled weight decay, as in PyTorch (`class AdamW(Adam)`).

use std::borrow::Cow;

use ferrite_tensor::{Float, Result, TensorError};
use serde::{Deserialize, Serialize};

use super::base::{check_lr, check_non_negative};
use super::{HyperParam, Optim, UpdateRule};

/// The hyper-parameters of [`Adam`], with PyTorch's names and defaults; [`AdamConfig::adamw`]
/// gives AdamW's.
///
/// ```
/// use ferrite_nn::optim::{AdamConfig, UpdateRule};
/// let c = AdamConfig::default();
/// assert_eq!((c.lr, c.betas, c.eps, c.weight_decay, c.amsgrad), (1e-3, (0.9, 0.999), 1e-8, 0.0, false));
/// assert!(!c.decoupled_weight_decay);
/// let c = AdamConfig::new(0.01).with_betas(0.8, 0.99).with_amsgrad(true);
/// assert!(c.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// The learning rate (default `1e-3`).
    pub lr: f64,
    /// Decay rates of the first and second moment averages (default `(0.9, 0.999)`).
    pub betas: (f64, f64),
    /// Added to the denominator for numerical stability (default `1e-8`).
    pub eps: f64,
    /// The weight decay (default 0; AdamW's `0.01`): L2 penalty added to the gradient,
    /// `g + weight_decay * p`, or with `decoupled_weight_decay`, `p * (1 - lr * weight_decay)`.
    pub weight_decay: f64,
    /// Use the maximum of the past second moments (AMSGrad; default false).
    pub amsgrad: bool,
    /// Shrink the parameter instead of adding to the gradient (default false): AdamW.
    #[serde(default)]
    pub decoupled_weight_decay: bool,
}

impl Default for AdamConfig {
    /// PyTorch's defaults: `lr = 1e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8`, no weight
    /// decay, no AMSGrad.
    ///
    /// ```
    /// use ferrite_nn::optim::AdamConfig;
    /// assert_eq!(AdamConfig::default(), AdamConfig::new(1e-3));
    /// ```
    fn default() -> Self {
        AdamConfig::new(1e-3)
    }
}

impl AdamConfig {
    /// Adam's defaults with learning rate `lr`.
    ///
    /// ```
    /// use ferrite_nn::optim::AdamConfig;
    /// assert_eq!(AdamConfig::new(0.01).lr, 0.01);
    /// ```
    pub fn new(lr: f64) -> Self {
        AdamConfig {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            decoupled_weight_decay: false,
        }
    }

    /// AdamW's defaults (`torch.optim.AdamW`) with learning rate `lr`: decoupled weight
    /// decay of `0.01`.
    ///
    /// ```
    /// use ferrite_nn::optim::AdamConfig;
    /// let c = AdamConfig::adamw(1e-3);
    /// assert_eq!((c.weight_decay, c.decoupled_weight_decay), (0.01, true));
    /// assert_eq!(c, AdamConfig::new(1e-3).with_weight_decay(0.01).with_decoupled_weight_decay(true));
    /// ```
    pub fn adamw(lr: f64) -> Self {
        AdamConfig::new(lr)
            .with_weight_decay(0.01)
            .with_decoupled_weight_decay(true)
    }

    /// Sets the decay rates of the moment averages.
    ///
    /// ```
    /// use ferrite_nn::optim::AdamConfig;
    /// assert_eq!(AdamConfig::new(0.01).with_betas(0.5, 0.9).betas, (0.5, 0.9));
    /// ```
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.betas = (beta1, beta2);
        self
    }

    /// Sets the term added to the denominator.
    ///
    /// ```
    /// use ferrite_nn::optim::AdamConfig;
    /// assert_eq!(AdamConfig::new(0.01).with_eps(1e-6).eps, 1e-6);
    /// ```
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the weight decay.
    ///
    /// ```
    /// use ferrite_nn::optim::AdamConfig;
    /// assert_eq!(AdamConfig::new(0.01).with_weight_decay(0.1).weight_decay, 0.1);
    /// ```
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Turns AMSGrad on or off.
    ///
    /// ```
    /// use ferrite_nn::optim::AdamConfig;
    /// assert!(AdamConfig::new(0.01).with_amsgrad(true).amsgrad);
    /// ```
    pub fn with_amsgrad(mut self, amsgrad: bool) -> Self {
        self.amsgrad = amsgrad;
        self
    }

    /// Turns decoupled weight decay (AdamW) on or off.
    ///
    /// ```
    /// use ferrite_nn::optim::AdamConfig;
    /// assert!(AdamConfig::new(0.01).with_decoupled_weight_decay(true).decoupled_weight_decay);
    /// ```
    pub fn with_decoupled_weight_decay(mut self, decoupled: bool) -> Self {
        self.decoupled_weight_decay = decoupled;
        self
    }
}

/// Adam, exactly as `torch.optim.Adam`, and AdamW as `torch.optim.AdamW` (single-tensor
/// path), with [`AdamConfig::adamw`].
///
/// For each parameter `p` with gradient `g`, at its step `t` (counted from 1):
///
/// ```text
/// p = p * (1 - lr * weight_decay)                   (decoupled, AdamW)
/// g = g + weight_decay * p                          (not decoupled, Adam)
/// m = lerp(m, g, 1 - beta1)                         (m + (1 - beta1) * (g - m))
/// v = beta2 * v + (1 - beta2) * g * g
/// v_max = max(v_max, v)                             (amsgrad; then used instead of v)
/// bias_correction1 = 1 - beta1^t,  bias_correction2 = 1 - beta2^t   (in f64)
/// denom = sqrt(v) / sqrt(bias_correction2) + eps
/// p = p - (lr / bias_correction1) * m / denom
/// ```
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::optim::{Adam, AdamConfig, Optimizer};
/// use ferrite_tensor::Tensor;
///
/// let w = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 1.0], &[2])?);
/// let mut opt = Adam::new(vec![w.clone()], AdamConfig::new(0.1))?;
/// w.set_grad(Some(Tensor::from_vec(vec![3.0, -0.5], &[2])?))?;
/// opt.step()?;
/// // The first Adam step moves every coordinate by about lr, against the gradient's sign.
/// let p = w.value().to_vec();
/// assert!((p[0] - 0.9).abs() < 1e-6 && (p[1] - 1.1).abs() < 1e-6);
///
/// // AdamW: 2 * (1 - 0.1 * 0.5) = 1.9, then the Adam step of about -0.1.
/// let w = Var::parameter(Tensor::<f64>::full(&[1], 2.0));
/// let mut opt = Adam::new(vec![w.clone()], AdamConfig::adamw(0.1).with_weight_decay(0.5))?;
/// w.set_grad(Some(Tensor::full(&[1], 1.0)))?;
/// opt.step()?;
/// assert!((w.value().to_vec()[0] - 1.8).abs() < 1e-6);
/// assert_eq!(opt.kind(), "adamw");
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub type Adam<T = f32> = Optim<AdamConfig, T>;

impl UpdateRule for AdamConfig {
    type Buffers<T: Float> = [Option<Vec<T>>; 3];
    const BUFFERS: &'static [&'static str] = &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

    fn name(&self) -> &'static str {
        if self.decoupled_weight_decay {
            "AdamW"
        } else {
            "Adam"
        }
    }

    fn kind(&self) -> &'static str {
        if self.decoupled_weight_decay {
            "adamw"
        } else {
            "adam"
        }
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Checks the hyper-parameters as PyTorch does.
    ///
    /// # Errors
    /// `Invalid learning rate` (negative or not finite), `Invalid epsilon value`,
    /// `Invalid beta parameter at index 0/1` (outside `[0, 1)`), `Invalid weight_decay
    /// value` (negative); NaN is refused everywhere. The op is `Adam` or `AdamW`.
    ///
    /// ```
    /// use ferrite_nn::optim::{AdamConfig, UpdateRule};
    /// let err = AdamConfig::new(0.01).with_betas(0.9, 1.0).validate().unwrap_err();
    /// assert!(err.to_string().contains("Invalid beta parameter at index 1"));
    /// ```
    fn validate(&self) -> Result<()> {
        let op = self.name();
        check_lr(op, self.lr)?;
        if self.eps.is_nan() || self.eps < 0.0 {
            return Err(TensorError::invalid(
                op,
                format!("Invalid epsilon value: {}", self.eps),
            ));
        }
        for (index, beta) in [self.betas.0, self.betas.1].into_iter().enumerate() {
            if !(0.0..1.0).contains(&beta) {
                return Err(TensorError::invalid(
                    op,
                    format!("Invalid beta parameter at index {index}: {beta}"),
                ));
            }
        }
        check_non_negative(op, "weight_decay", self.weight_decay)
    }

    /// The hyper-parameters saved in a state; `decoupled_weight_decay` is its kind.
    fn hyper_params(&mut self) -> Vec<(&'static str, HyperParam<'_>)> {
        vec![
            ("lr", HyperParam::Float(&mut self.lr)),
            ("beta1", HyperParam::Float(&mut self.betas.0)),
            ("beta2", HyperParam::Float(&mut self.betas.1)),
            ("eps", HyperParam::Float(&mut self.eps)),
            ("weight_decay", HyperParam::Float(&mut self.weight_decay)),
            ("amsgrad", HyperParam::Bool(&mut self.amsgrad)),
        ]
    }

    fn required_buffers(&self) -> &'static [&'static str] {
        if self.amsgrad {
            Self::BUFFERS
        } else {
            &Self::BUFFERS[..2]
        }
    }

    /// PyTorch's `_single_tensor_adam` for one parameter. The buffers start at zero.
    fn update<T: Float>(
        &self,
        param: &mut [T],
        grad: &[T],
        [exp_avg, exp_avg_sq, max_exp_avg_sq]: &mut Self::Buffers<T>,
        step: u64,
    ) {
        let numel = param.len();
        let zeros = || vec![T::zero(); numel];
        let exp_avg = exp_avg.get_or_insert_with(zeros);
        let exp_avg_sq = exp_avg_sq.get_or_insert_with(zeros);
        let (beta1, beta2) = self.betas;
        let mut grad = Cow::Borrowed(grad);
        if self.weight_decay != 0.0 {
            if self.decoupled_weight_decay {
                // param.mul_(1 - lr * weight_decay)
                let decay_factor = T::of(1.0 - self.lr * self.weight_decay);
                for p in param.iter_mut() {
                    *p *= decay_factor;
                }
            } else {
                // grad = grad.add(param, alpha=weight_decay)
                let weight_decay = T::of(self.weight_decay);
                let decayed = grad
                    .iter()
                    .zip(&*param)
                    .map(|(&g, &p)| g + weight_decay * p);
                grad = Cow::Owned(decayed.collect());
            }
        }
        // exp_avg.lerp_(grad, 1 - beta1): ATen's lerp computes `self + w * (end - self)`
        // when |w| < 0.5 and `end - (end - self) * (1 - w)` otherwise.
        let (w, small_weight) = (T::of(1.0 - beta1), (1.0 - beta1).abs() < 0.5);
        let one_minus_w = T::one() - w;
        for (m, &g) in exp_avg.iter_mut().zip(grad.iter()) {
            *m = if small_weight {
                *m + w * (g - *m)
            } else {
                g - (g - *m) * one_minus_w
            };
        }
        // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        let (beta2_t, one_minus_beta2) = (T::of(beta2), T::of(1.0 - beta2));
        for (v, &g) in exp_avg_sq.iter_mut().zip(grad.iter()) {
            *v = *v * beta2_t + one_minus_beta2 * g * g;
        }
        let step = step as f64;
        let bias_correction1 = 1.0 - beta1.powf(step);
        let bias_correction2 = 1.0 - beta2.powf(step);
        let step_size = self.lr / bias_correction1;
        let bias_correction2_sqrt = T::of(bias_correction2.sqrt());
        let second_moment: &[T] = if self.amsgrad {
            // torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
            let max = max_exp_avg_sq.get_or_insert_with(zeros);
            for (mx, &v) in max.iter_mut().zip(exp_avg_sq.iter()) {
                *mx = maximum(*mx, v);
            }
            max
        } else {
            exp_avg_sq
        };
        // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        // param.addcdiv_(exp_avg, denom, value=-step_size)
        let (eps, neg_step_size) = (T::of(self.eps), T::of(-step_size));
        for ((p, &m), &v) in param.iter_mut().zip(exp_avg.iter()).zip(second_moment) {
            let denom = v.sqrt() / bias_correction2_sqrt + eps;
            *p += neg_step_size * m / denom;
        }
    }
}

/// `torch.maximum`: the larger value, NaN if either is NaN.
fn maximum<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        T::nan()
    } else if a >= b {
        a
    } else {
        b
    }
}
