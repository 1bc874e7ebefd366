//! Seeded data augmentation, named as in `torchvision.transforms`: [`RandomCrop`],
//! [`RandomHorizontalFlip`], [`RandomAffine`], a per-channel [`Normalize`] and [`Compose`].
//!
//! A transform maps the `[C, H, W]` features of one sample to new features, drawing its
//! random numbers from a generator it is given. A [`DataLoader`](super::DataLoader) with a
//! transform ([`DataLoader::with_transform`](super::DataLoader::with_transform)) gives sample
//! `i` of epoch `e` the generator [`sample_rng`]`(seed, e, i)`, so what a sample becomes
//! depends only on (seed, epoch, sample index): not on the batch size, the thread count,
//! prefetching, or which samples came before.
//!
//! ```
//! use ferrite_nn::data::transforms::{Compose, Normalize, RandomCrop, RandomHorizontalFlip};
//! use ferrite_nn::data::{DataLoader, Mnist, Normalize as Pixels, Split};
//! let train = Mnist::embedded(Split::Train)?.with_normalize(Pixels::NONE);
//! let augment = Compose::new()
//!     .then(RandomCrop::new([28, 28]).with_padding(2))
//!     .then(RandomHorizontalFlip::new(0.5))
//!     .then(Normalize::new(vec![0.1307], vec![0.3081])?);
//! let loader = DataLoader::new(&train).with_batch_size(8).with_seed(1).with_transform(augment);
//! let a = loader.epoch(0).next().unwrap()?;
//! let b = loader.epoch(0).next().unwrap()?;
//! assert_eq!(a.images.to_vec(), b.images.to_vec()); // same seed, epoch, indices: same bytes
//! assert_eq!(a.images.shape(), &[8, 1, 28, 28]);
//! # Ok::<(), ferrite_nn::data::DataError>(())
//! ```

use std::fmt;

use ferrite_tensor::{Rng, Tensor, seeded_rng};
use rand::RngCore;

use super::DataError;
use super::loader::below;

/// Mixed into the loader's seed ("AUGMENT" in ASCII), so that augmentation draws are
/// independent of the shuffled orders and of `seeded_rng(seed)`.
const AUGMENT_KEY: u64 = 0x4155_474d_454e_5400;

/// The generator of sample `index` in epoch `epoch`: ChaCha8 seeded with `seed ^ AUGMENT_KEY`,
/// on stream `epoch`, starting at word `index * 2^24` (16 million 32-bit words per sample,
/// far more than any transform here draws).
///
/// ```
/// use ferrite_nn::data::transforms::sample_rng;
/// use rand::RngCore;
/// assert_eq!(sample_rng(1, 2, 3).next_u64(), sample_rng(1, 2, 3).next_u64());
/// assert_ne!(sample_rng(1, 2, 3).next_u64(), sample_rng(1, 2, 4).next_u64());
/// ```
pub fn sample_rng(seed: u64, epoch: u64, index: usize) -> Rng {
    let mut rng = seeded_rng(seed ^ AUGMENT_KEY);
    rng.set_stream(epoch);
    rng.set_word_pos((index as u128) << 24);
    rng
}

/// A uniform `f64` in `[0, 1)` from one `u64` draw (53 random bits).
fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform `f64` in `[lo, hi)`.
fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * unit(rng)
}

/// A transform of one sample's `[C, H, W]` features, drawing from a given generator.
///
/// ```
/// use ferrite_nn::data::transforms::{sample_rng, RandomHorizontalFlip, Transform};
/// use ferrite_tensor::Tensor;
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[1, 1, 3])?;
/// let y = RandomHorizontalFlip::new(1.0).apply_to(&x, &mut sample_rng(0, 0, 0))?;
/// assert_eq!(y.to_vec(), vec![3.0, 2.0, 1.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Transform: fmt::Debug + Send + Sync {
    /// The shape of the output for an input of shape `input`.
    ///
    /// # Errors
    /// When the transform cannot take inputs of that shape (not `[C, H, W]`, too small, ...).
    ///
    /// ```
    /// use ferrite_nn::data::transforms::{RandomCrop, Transform};
    /// assert_eq!(RandomCrop::new([24, 24]).output_shape(&[3, 32, 32])?, vec![3, 24, 24]);
    /// assert!(RandomCrop::new([40, 40]).output_shape(&[3, 32, 32]).is_err());
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, DataError>;

    /// Writes the transformed `input` (of shape `shape`, row-major) into `output` (of
    /// [`Transform::output_shape`]), drawing from `rng`.
    ///
    /// # Errors
    /// Those of [`Transform::output_shape`], and lengths that do not fit the shapes.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::{sample_rng, Normalize, Transform};
    /// let mut out = [0.0f32; 2];
    /// Normalize::new(vec![0.5], vec![0.5])?.apply(&[0.0, 1.0], &[1, 1, 2], &mut out, &mut sample_rng(0, 0, 0))?;
    /// assert_eq!(out, [-1.0, 1.0]);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    fn apply(
        &self,
        input: &[f32],
        shape: &[usize],
        output: &mut [f32],
        rng: &mut Rng,
    ) -> Result<(), DataError>;

    /// The transform of a tensor (a convenience over [`Transform::apply`]).
    ///
    /// # Errors
    /// Those of [`Transform::apply`].
    ///
    /// ```
    /// use ferrite_nn::data::transforms::{sample_rng, RandomCrop, Transform};
    /// use ferrite_tensor::Tensor;
    /// let x = Tensor::<f32>::ones(&[1, 4, 4]);
    /// let y = RandomCrop::new([2, 3]).apply_to(&x, &mut sample_rng(0, 0, 0))?;
    /// assert_eq!(y.shape(), &[1, 2, 3]);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    fn apply_to(&self, input: &Tensor<f32>, rng: &mut Rng) -> Result<Tensor<f32>, DataError> {
        let shape = self.output_shape(input.shape())?;
        let mut out = vec![0.0f32; shape.iter().product()];
        self.apply(&input.to_vec(), input.shape(), &mut out, rng)?;
        Ok(Tensor::from_vec(out, &shape)?)
    }
}

/// `[C, H, W]` of `shape`, or an error of `op`.
fn chw(op: &'static str, shape: &[usize]) -> Result<[usize; 3], DataError> {
    match *shape {
        [c, h, w] => Ok([c, h, w]),
        _ => Err(DataError::invalid(
            op,
            format!("expected a [C, H, W] sample, found shape {shape:?}"),
        )),
    }
}

/// Checks that `input` and `output` hold the numbers of values their shapes say.
fn check_lens(
    op: &'static str,
    input: &[f32],
    in_len: usize,
    output: &[f32],
    out_len: usize,
) -> Result<(), DataError> {
    if input.len() != in_len || output.len() != out_len {
        return Err(DataError::invalid(
            op,
            format!(
                "expected {in_len} input and {out_len} output values, found {} and {}",
                input.len(),
                output.len()
            ),
        ));
    }
    Ok(())
}

/// Transforms applied one after the other, like `torchvision.transforms.Compose`.
///
/// ```
/// use ferrite_nn::data::transforms::{sample_rng, Compose, RandomCrop, RandomHorizontalFlip, Transform};
/// let t = Compose::new().then(RandomCrop::new([2, 2])).then(RandomHorizontalFlip::new(0.5));
/// assert_eq!(t.len(), 2);
/// assert_eq!(t.output_shape(&[1, 5, 5])?, vec![1, 2, 2]);
/// # Ok::<(), ferrite_nn::data::DataError>(())
/// ```
#[derive(Debug, Default)]
pub struct Compose {
    transforms: Vec<Box<dyn Transform>>,
}

impl Compose {
    /// No transform yet (the identity).
    ///
    /// ```
    /// use ferrite_nn::data::transforms::Compose;
    /// assert!(Compose::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Compose::default()
    }

    /// Appends `transform`, applied after the ones before it.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::{Compose, RandomHorizontalFlip};
    /// assert_eq!(Compose::new().then(RandomHorizontalFlip::new(0.5)).len(), 1);
    /// ```
    pub fn then(mut self, transform: impl Transform + 'static) -> Self {
        self.transforms.push(Box::new(transform));
        self
    }

    /// The number of transforms.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::Compose;
    /// assert_eq!(Compose::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.transforms.len()
    }

    /// Whether there is no transform.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::Compose;
    /// assert!(Compose::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.transforms.is_empty()
    }
}

impl Transform for Compose {
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, DataError> {
        let mut shape = input.to_vec();
        for t in &self.transforms {
            shape = t.output_shape(&shape)?;
        }
        Ok(shape)
    }

    fn apply(
        &self,
        input: &[f32],
        shape: &[usize],
        output: &mut [f32],
        rng: &mut Rng,
    ) -> Result<(), DataError> {
        let mut current = input.to_vec();
        let mut current_shape = shape.to_vec();
        for t in &self.transforms {
            let next_shape = t.output_shape(&current_shape)?;
            let mut next = vec![0.0f32; next_shape.iter().product()];
            t.apply(&current, &current_shape, &mut next, rng)?;
            current = next;
            current_shape = next_shape;
        }
        if current.len() != output.len() {
            return Err(DataError::invalid(
                "Compose::apply",
                format!(
                    "expected an output of {} values, found {}",
                    current.len(),
                    output.len()
                ),
            ));
        }
        output.copy_from_slice(&current);
        Ok(())
    }
}

/// A random `size = [h, w]` window of the image, after padding every side with `padding`
/// zeros, like `torchvision.transforms.RandomCrop(size, padding)`: the top-left corner is
/// uniform over the positions where the window fits (`fill` 0, `padding_mode="constant"`).
///
/// ```
/// use ferrite_nn::data::transforms::{sample_rng, RandomCrop, Transform};
/// use ferrite_tensor::Tensor;
/// let x = Tensor::<f32>::ones(&[3, 32, 32]);
/// let y = RandomCrop::new([32, 32]).with_padding(4).apply_to(&x, &mut sample_rng(0, 0, 0))?;
/// assert_eq!(y.shape(), &[3, 32, 32]);
/// # Ok::<(), ferrite_nn::data::DataError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomCrop {
    size: [usize; 2],
    padding: usize,
}

impl RandomCrop {
    /// Crops windows of `size = [h, w]`, without padding.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::RandomCrop;
    /// assert_eq!(RandomCrop::new([24, 24]).size(), [24, 24]);
    /// ```
    pub fn new(size: [usize; 2]) -> Self {
        RandomCrop { size, padding: 0 }
    }

    /// Pads every side with `padding` zeros before cropping.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::RandomCrop;
    /// assert_eq!(RandomCrop::new([28, 28]).with_padding(2).padding(), 2);
    /// ```
    pub fn with_padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }

    /// The window size `[h, w]`.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::RandomCrop;
    /// assert_eq!(RandomCrop::new([2, 3]).size(), [2, 3]);
    /// ```
    pub fn size(&self) -> [usize; 2] {
        self.size
    }

    /// The zero padding of every side.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::RandomCrop;
    /// assert_eq!(RandomCrop::new([2, 3]).padding(), 0);
    /// ```
    pub fn padding(&self) -> usize {
        self.padding
    }
}

impl Transform for RandomCrop {
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, DataError> {
        let [c, h, w] = chw("RandomCrop", input)?;
        let [th, tw] = self.size;
        let padded = [
            h.saturating_add(self.padding.saturating_mul(2)),
            w.saturating_add(self.padding.saturating_mul(2)),
        ];
        if th == 0 || tw == 0 || th > padded[0] || tw > padded[1] {
            return Err(DataError::invalid(
                "RandomCrop",
                format!(
                    "expected a non-empty crop size within the padded image {}x{}, found {th}x{tw}",
                    padded[0], padded[1]
                ),
            ));
        }
        Ok(vec![c, th, tw])
    }

    fn apply(
        &self,
        input: &[f32],
        shape: &[usize],
        output: &mut [f32],
        rng: &mut Rng,
    ) -> Result<(), DataError> {
        let out_shape = self.output_shape(shape)?;
        let [c, h, w] = chw("RandomCrop", shape)?;
        let [th, tw] = self.size;
        check_lens(
            "RandomCrop",
            input,
            c * h * w,
            output,
            out_shape.iter().product(),
        )?;
        let p = self.padding;
        let top = below(rng, (h + 2 * p - th + 1) as u64) as usize;
        let left = below(rng, (w + 2 * p - tw + 1) as u64) as usize;
        for ch in 0..c {
            for i in 0..th {
                let row = (top + i).checked_sub(p).filter(|&r| r < h);
                for j in 0..tw {
                    let col = (left + j).checked_sub(p).filter(|&q| q < w);
                    output[(ch * th + i) * tw + j] = match (row, col) {
                        (Some(r), Some(q)) => input[(ch * h + r) * w + q],
                        _ => 0.0,
                    };
                }
            }
        }
        Ok(())
    }
}

/// Mirrors the image left to right with probability `p`, like
/// `torchvision.transforms.RandomHorizontalFlip(p=0.5)`.
///
/// ```
/// use ferrite_nn::data::transforms::{sample_rng, RandomHorizontalFlip, Transform};
/// use ferrite_tensor::Tensor;
/// let x = Tensor::from_vec(vec![1.0f32, 2.0], &[1, 1, 2])?;
/// assert_eq!(RandomHorizontalFlip::new(0.0).apply_to(&x, &mut sample_rng(0, 0, 0))?.to_vec(), vec![1.0, 2.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomHorizontalFlip {
    p: f64,
}

impl RandomHorizontalFlip {
    /// Flips with probability `p` (values outside `[0, 1]` act as 0 or 1).
    ///
    /// ```
    /// use ferrite_nn::data::transforms::RandomHorizontalFlip;
    /// assert_eq!(RandomHorizontalFlip::new(0.5).p(), 0.5);
    /// ```
    pub fn new(p: f64) -> Self {
        RandomHorizontalFlip { p }
    }

    /// The probability of a flip.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::RandomHorizontalFlip;
    /// assert_eq!(RandomHorizontalFlip::default().p(), 0.5);
    /// ```
    pub fn p(&self) -> f64 {
        self.p
    }
}

impl Default for RandomHorizontalFlip {
    /// `p = 0.5`, torchvision's default.
    fn default() -> Self {
        RandomHorizontalFlip::new(0.5)
    }
}

impl Transform for RandomHorizontalFlip {
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, DataError> {
        chw("RandomHorizontalFlip", input)?;
        Ok(input.to_vec())
    }

    fn apply(
        &self,
        input: &[f32],
        shape: &[usize],
        output: &mut [f32],
        rng: &mut Rng,
    ) -> Result<(), DataError> {
        let [c, h, w] = chw("RandomHorizontalFlip", shape)?;
        check_lens("RandomHorizontalFlip", input, c * h * w, output, c * h * w)?;
        // One draw whatever `p`, so that the draws of later transforms do not depend on it.
        let flip = unit(rng) < self.p;
        for (src, dst) in input
            .chunks_exact(w.max(1))
            .zip(output.chunks_exact_mut(w.max(1)))
        {
            dst.copy_from_slice(src);
            if flip {
                dst.reverse();
            }
        }
        Ok(())
    }
}

/// How [`RandomAffine`] reads the input between pixel centres.
///
/// ```
/// use ferrite_nn::data::transforms::Interpolation;
/// assert_eq!(Interpolation::default(), Interpolation::Nearest);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interpolation {
    /// The nearest pixel (torchvision's default, `InterpolationMode.NEAREST`).
    #[default]
    Nearest,
    /// The distance-weighted mean of the four nearest pixels (`InterpolationMode.BILINEAR`).
    Bilinear,
}

/// A random rotation, translation and scaling about the image centre, like
/// `torchvision.transforms.RandomAffine(degrees, translate, scale)`: the angle is uniform in
/// `[-degrees, degrees]` (positive turns counter-clockwise), the shift uniform in
/// `±translate[0] * W` and `±translate[1] * H` pixels rounded to whole pixels, the scale
/// uniform in `[scale[0], scale[1]]`; pixels from outside the input are `fill` (0).
///
/// ```
/// use ferrite_nn::data::transforms::{sample_rng, Interpolation, RandomAffine, Transform};
/// use ferrite_tensor::Tensor;
/// let t = RandomAffine::new(10.0)?
///     .with_translate([0.1, 0.1])?
///     .with_scale([0.9, 1.1])?
///     .with_interpolation(Interpolation::Bilinear);
/// let x = Tensor::<f32>::ones(&[1, 28, 28]);
/// let y = t.apply_to(&x, &mut sample_rng(0, 0, 0))?;
/// assert_eq!(y.shape(), &[1, 28, 28]);
/// // The identity transform keeps every pixel.
/// let y = RandomAffine::new(0.0)?.apply_to(&x, &mut sample_rng(0, 0, 0))?;
/// assert_eq!(y.to_vec(), x.to_vec());
/// # Ok::<(), ferrite_nn::data::DataError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomAffine {
    degrees: f64,
    translate: Option<[f64; 2]>,
    scale: Option<[f64; 2]>,
    interpolation: Interpolation,
    fill: f32,
}

impl RandomAffine {
    /// Rotations of up to `degrees` either way, no translation or scaling.
    ///
    /// # Errors
    /// [`DataError::Invalid`] when `degrees` is negative or not finite.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::RandomAffine;
    /// assert!(RandomAffine::new(15.0).is_ok());
    /// assert!(RandomAffine::new(-1.0).is_err());
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn new(degrees: f64) -> Result<Self, DataError> {
        if !(degrees.is_finite() && degrees >= 0.0) {
            return Err(DataError::invalid(
                "RandomAffine::new",
                format!("expected degrees >= 0, found {degrees}"),
            ));
        }
        Ok(RandomAffine {
            degrees,
            translate: None,
            scale: None,
            interpolation: Interpolation::Nearest,
            fill: 0.0,
        })
    }

    /// Shifts of up to `translate[0]` of the width horizontally and `translate[1]` of the
    /// height vertically.
    ///
    /// # Errors
    /// [`DataError::Invalid`] when a fraction is outside `[0, 1]`.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::RandomAffine;
    /// assert!(RandomAffine::new(0.0)?.with_translate([0.1, 0.2]).is_ok());
    /// assert!(RandomAffine::new(0.0)?.with_translate([1.5, 0.0]).is_err());
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn with_translate(mut self, translate: [f64; 2]) -> Result<Self, DataError> {
        if !translate.iter().all(|t| (0.0..=1.0).contains(t)) {
            return Err(DataError::invalid(
                "RandomAffine::with_translate",
                format!("expected fractions in [0, 1], found {translate:?}"),
            ));
        }
        self.translate = Some(translate);
        Ok(self)
    }

    /// Scale factors uniform in `[scale[0], scale[1]]`.
    ///
    /// # Errors
    /// [`DataError::Invalid`] unless `0 < scale[0] <= scale[1]` (finite).
    ///
    /// ```
    /// use ferrite_nn::data::transforms::RandomAffine;
    /// assert!(RandomAffine::new(0.0)?.with_scale([0.9, 1.1]).is_ok());
    /// assert!(RandomAffine::new(0.0)?.with_scale([1.1, 0.9]).is_err());
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn with_scale(mut self, scale: [f64; 2]) -> Result<Self, DataError> {
        let [lo, hi] = scale;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi) {
            return Err(DataError::invalid(
                "RandomAffine::with_scale",
                format!("expected 0 < min <= max, found {scale:?}"),
            ));
        }
        self.scale = Some(scale);
        Ok(self)
    }

    /// How pixels are read ([`Interpolation::Nearest`] by default, as in torchvision).
    ///
    /// ```
    /// use ferrite_nn::data::transforms::{Interpolation, RandomAffine};
    /// let t = RandomAffine::new(5.0)?.with_interpolation(Interpolation::Bilinear);
    /// assert_eq!(t.interpolation(), Interpolation::Bilinear);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn with_interpolation(mut self, interpolation: Interpolation) -> Self {
        self.interpolation = interpolation;
        self
    }

    /// The value of pixels that come from outside the input (0 by default).
    ///
    /// ```
    /// use ferrite_nn::data::transforms::RandomAffine;
    /// assert_eq!(RandomAffine::new(5.0)?.with_fill(-0.5).fill(), -0.5);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn with_fill(mut self, fill: f32) -> Self {
        self.fill = fill;
        self
    }

    /// The interpolation.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::{Interpolation, RandomAffine};
    /// assert_eq!(RandomAffine::new(5.0)?.interpolation(), Interpolation::Nearest);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn interpolation(&self) -> Interpolation {
        self.interpolation
    }

    /// The fill value.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::RandomAffine;
    /// assert_eq!(RandomAffine::new(5.0)?.fill(), 0.0);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn fill(&self) -> f32 {
        self.fill
    }

    /// Draws (angle in degrees, shift x, shift y, scale) in torchvision's order.
    fn draw(&self, rng: &mut Rng, h: usize, w: usize) -> (f64, f64, f64, f64) {
        let angle = uniform(rng, -self.degrees, self.degrees);
        let (tx, ty) = match self.translate {
            Some([a, b]) => {
                let (mx, my) = (a * w as f64, b * h as f64);
                (
                    uniform(rng, -mx, mx).round_ties_even(),
                    uniform(rng, -my, my).round_ties_even(),
                )
            }
            None => (0.0, 0.0),
        };
        let scale = match self.scale {
            Some([lo, hi]) => uniform(rng, lo, hi),
            None => 1.0,
        };
        (angle, tx, ty, scale)
    }

    /// Channel plane `plane` (`h * w` values) read at `(x, y)` in pixel coordinates.
    fn sample(&self, plane: &[f32], h: usize, w: usize, x: f64, y: f64) -> f32 {
        let at = |r: i64, q: i64| -> f32 {
            if r < 0 || q < 0 || r >= h as i64 || q >= w as i64 {
                self.fill
            } else {
                plane[r as usize * w + q as usize]
            }
        };
        match self.interpolation {
            Interpolation::Nearest => at(y.round_ties_even() as i64, x.round_ties_even() as i64),
            Interpolation::Bilinear => {
                let (x0, y0) = (x.floor(), y.floor());
                let (fx, fy) = ((x - x0) as f32, (y - y0) as f32);
                let (q, r) = (x0 as i64, y0 as i64);
                let top = at(r, q) * (1.0 - fx) + at(r, q + 1) * fx;
                let bottom = at(r + 1, q) * (1.0 - fx) + at(r + 1, q + 1) * fx;
                top * (1.0 - fy) + bottom * fy
            }
        }
    }
}

impl Transform for RandomAffine {
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, DataError> {
        chw("RandomAffine", input)?;
        Ok(input.to_vec())
    }

    fn apply(
        &self,
        input: &[f32],
        shape: &[usize],
        output: &mut [f32],
        rng: &mut Rng,
    ) -> Result<(), DataError> {
        let [c, h, w] = chw("RandomAffine", shape)?;
        check_lens("RandomAffine", input, c * h * w, output, c * h * w)?;
        let (angle, tx, ty, scale) = self.draw(rng, h, w);
        // The inverse map: output pixel -> input position, about the centre of the image.
        let (sin, cos) = angle.to_radians().sin_cos();
        let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
        let plane_len = h * w;
        for ch in 0..c {
            let plane = &input[ch * plane_len..(ch + 1) * plane_len];
            for i in 0..h {
                for j in 0..w {
                    let u = j as f64 - cx - tx;
                    let v = i as f64 - cy - ty;
                    let x = (cos * u - sin * v) / scale + cx;
                    let y = (sin * u + cos * v) / scale + cy;
                    output[ch * plane_len + i * w + j] = self.sample(plane, h, w, x, y);
                }
            }
        }
        Ok(())
    }
}

/// `(x - mean[c]) / std[c]` for every channel `c`, in `f32`, like
/// `torchvision.transforms.Normalize(mean, std)` (a single mean and std apply to every
/// channel). No randomness.
///
/// ```
/// use ferrite_nn::data::transforms::{sample_rng, Normalize, Transform};
/// use ferrite_tensor::Tensor;
/// let t = Normalize::new(vec![0.5, 0.0], vec![0.5, 2.0])?;
/// let x = Tensor::from_vec(vec![1.0f32, 0.0, 4.0, 2.0], &[2, 1, 2])?;
/// assert_eq!(t.apply_to(&x, &mut sample_rng(0, 0, 0))?.to_vec(), vec![1.0, -1.0, 2.0, 1.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Normalize {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Normalize {
    /// Per-channel `mean` and `std` (of equal lengths; length 1 applies to every channel).
    ///
    /// # Errors
    /// [`DataError::Invalid`] when the lengths differ or are 0, a mean is not finite, or a
    /// std is not finite and positive.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::Normalize;
    /// assert!(Normalize::new(vec![0.4914, 0.4822, 0.4465], vec![0.247, 0.243, 0.261]).is_ok());
    /// assert!(Normalize::new(vec![0.5], vec![0.0]).is_err());
    /// assert!(Normalize::new(vec![0.5, 0.5], vec![0.5]).is_err());
    /// ```
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Result<Self, DataError> {
        let ok = !mean.is_empty()
            && mean.len() == std.len()
            && mean.iter().all(|m| m.is_finite())
            && std.iter().all(|s| s.is_finite() && *s > 0.0);
        if !ok {
            return Err(DataError::invalid(
                "Normalize::new",
                format!(
                    "expected as many finite means as finite positive stds, found mean {mean:?} and std {std:?}"
                ),
            ));
        }
        Ok(Normalize { mean, std })
    }

    /// The per-channel means.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::Normalize;
    /// assert_eq!(Normalize::new(vec![0.5], vec![0.25])?.mean(), &[0.5]);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The per-channel standard deviations.
    ///
    /// ```
    /// use ferrite_nn::data::transforms::Normalize;
    /// assert_eq!(Normalize::new(vec![0.5], vec![0.25])?.std(), &[0.25]);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn std(&self) -> &[f32] {
        &self.std
    }
}

impl Transform for Normalize {
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, DataError> {
        let [c, _, _] = chw("Normalize", input)?;
        if self.mean.len() != 1 && self.mean.len() != c {
            return Err(DataError::invalid(
                "Normalize",
                format!(
                    "expected {} channels (one per mean), found {c}",
                    self.mean.len()
                ),
            ));
        }
        Ok(input.to_vec())
    }

    fn apply(
        &self,
        input: &[f32],
        shape: &[usize],
        output: &mut [f32],
        _rng: &mut Rng,
    ) -> Result<(), DataError> {
        self.output_shape(shape)?;
        let [c, h, w] = chw("Normalize", shape)?;
        check_lens("Normalize", input, c * h * w, output, c * h * w)?;
        let plane = (h * w).max(1);
        for (ch, (src, dst)) in input
            .chunks_exact(plane)
            .zip(output.chunks_exact_mut(plane))
            .enumerate()
        {
            let k = if self.mean.len() == 1 { 0 } else { ch };
            let (m, s) = (self.mean[k], self.std[k]);
            for (d, &x) in dst.iter_mut().zip(src) {
                *d = (x - m) / s;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
