//! `Upsample`: resizing images as a layer, PyTorch's `nn.Upsample`.

use ferrite_autograd::Var;
use ferrite_tensor::{Float, InterpolateMode, InterpolateOptions, Result, ScaleFactor};

use crate::Module;

/// Resizes an `[N, C, H, W]` batch of images, like `torch.nn.Upsample`: to a fixed `size`
/// or by a `scale_factor`, with nearest (the default) or bilinear interpolation (see
/// [`Var::interpolate`] for the exact rules, PyTorch's). No parameters.
///
/// `Upsample::new()` has neither a size nor a scale factor; set exactly one, or `forward`
/// returns the error `interpolate` gives (as PyTorch's does).
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Module, Upsample};
/// use ferrite_tensor::{InterpolateMode, Tensor};
/// let up = Upsample::new().with_scale_factor(2.0).with_mode(InterpolateMode::Bilinear);
/// let x = Var::new(Tensor::<f32>::ones(&[1, 3, 4, 5]));
/// assert_eq!(up.forward(&x)?.shape(), vec![1, 3, 8, 10]);
/// assert_eq!(Module::<f32>::describe(&up), "Upsample(scale_factor=[2.0, 2.0], mode='bilinear')");
/// let fixed = Upsample::new().with_size([7, 7]);
/// assert_eq!(fixed.forward(&x)?.shape(), vec![1, 3, 7, 7]);
/// assert!(Upsample::new().forward(&x).is_err());
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Upsample {
    options: InterpolateOptions,
}

impl Upsample {
    /// Nearest interpolation, no size or scale factor yet.
    ///
    /// ```
    /// use ferrite_nn::Upsample;
    /// assert_eq!(Upsample::new().options().size, None);
    /// ```
    pub fn new() -> Self {
        Upsample::default()
    }

    /// Sets the output size `[h, w]`.
    pub fn with_size(mut self, size: [usize; 2]) -> Self {
        self.options = self.options.with_size(size);
        self
    }

    /// Sets the scale factor (`2.0` or `[2.0, 1.5]`).
    pub fn with_scale_factor(mut self, scale_factor: impl Into<ScaleFactor>) -> Self {
        self.options = self.options.with_scale_factor(scale_factor);
        self
    }

    /// Sets the mode (nearest or bilinear).
    pub fn with_mode(mut self, mode: InterpolateMode) -> Self {
        self.options = self.options.with_mode(mode);
        self
    }

    /// Sets `align_corners` (bilinear only).
    pub fn with_align_corners(mut self, align_corners: bool) -> Self {
        self.options = self.options.with_align_corners(align_corners);
        self
    }

    /// The resize's settings.
    pub fn options(&self) -> &InterpolateOptions {
        &self.options
    }
}

impl<T: Float> Module<T> for Upsample {
    /// # Shapes
    /// - input: `[N, C, H, W]`
    /// - output: `[N, C, size]` or `[N, C, floor(H · scale_h), floor(W · scale_w)]`
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        input.interpolate(&self.options)
    }

    fn type_name(&self) -> &'static str {
        "Upsample"
    }

    fn describe(&self) -> String {
        let o = &self.options;
        let mut s = match (o.scale_factor, o.size) {
            (Some(sf), _) => format!("Upsample(scale_factor={sf:?}"),
            (None, Some(size)) => format!("Upsample(size={size:?}"),
            (None, None) => "Upsample(size=None".to_string(),
        };
        s.push_str(&format!(", mode='{}'", o.mode.name()));
        if let Some(a) = o.align_corners {
            s.push_str(&format!(
                ", align_corners={}",
                if a { "True" } else { "False" }
            ));
        }
        s.push(')');
        s
    }
}
