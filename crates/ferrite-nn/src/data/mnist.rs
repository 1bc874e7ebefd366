//! The MNIST handwritten digits.

use std::fmt;
use std::path::Path;

use super::DataError;
use super::idx::{IdxArray, parse_idx, read_idx};
use super::loader::{Dataset, Sample};

/// The number of classes of MNIST: the digits 0 to 9.
const CLASSES: usize = 10;

/// Which part of MNIST: the training digits or the held-out test digits.
///
/// ```
/// use ferrite_nn::data::Split;
/// assert_eq!(Split::Train.images_file(), "train-images-idx3-ubyte");
/// assert_eq!(Split::Test.labels_file(), "t10k-labels-idx1-ubyte");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training digits (`train-*` files).
    Train,
    /// The held-out test digits (`t10k-*` files).
    Test,
}

impl Split {
    /// The standard name of this split's image file, without the `.gz` extension.
    ///
    /// ```
    /// use ferrite_nn::data::Split;
    /// assert_eq!(Split::Test.images_file(), "t10k-images-idx3-ubyte");
    /// ```
    pub fn images_file(self) -> &'static str {
        match self {
            Split::Train => "train-images-idx3-ubyte",
            Split::Test => "t10k-images-idx3-ubyte",
        }
    }

    /// The standard name of this split's label file, without the `.gz` extension.
    ///
    /// ```
    /// use ferrite_nn::data::Split;
    /// assert_eq!(Split::Train.labels_file(), "train-labels-idx1-ubyte");
    /// ```
    pub fn labels_file(self) -> &'static str {
        match self {
            Split::Train => "train-labels-idx1-ubyte",
            Split::Test => "t10k-labels-idx1-ubyte",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// How pixels become features: `x = pixel / 255`, then `(x - mean) / std`.
///
/// The default, [`Normalize::MNIST`], uses the mean 0.1307 and standard deviation 0.3081
/// of the MNIST training pixels (the `transforms.Normalize((0.1307,), (0.3081,))` of the
/// PyTorch examples), so a black pixel becomes `-0.1307 / 0.3081 ≈ -0.4242` and a white one
/// `(1 - 0.1307) / 0.3081 ≈ 2.8215`. [`Normalize::NONE`] keeps `pixel / 255` in `[0, 1]`.
///
/// ```
/// use ferrite_nn::data::Normalize;
/// let n = Normalize::default();
/// assert_eq!(n, Normalize::MNIST);
/// assert!((n.apply(0) + 0.1307 / 0.3081).abs() < 1e-12);
/// assert_eq!(Normalize::NONE.apply(255), 1.0);
/// let custom = Normalize::new(0.5, 0.5)?;
/// assert_eq!(custom.apply(0), -1.0);
/// # Ok::<(), ferrite_nn::data::DataError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    mean: f64,
    std: f64,
}

impl Normalize {
    /// Mean 0.1307 and standard deviation 0.3081: the statistics of MNIST's training pixels.
    ///
    /// ```
    /// use ferrite_nn::data::Normalize;
    /// assert_eq!((Normalize::MNIST.mean(), Normalize::MNIST.std()), (0.1307, 0.3081));
    /// ```
    pub const MNIST: Normalize = Normalize {
        mean: 0.1307,
        std: 0.3081,
    };

    /// Mean 0 and standard deviation 1: features are `pixel / 255`, in `[0, 1]`.
    ///
    /// ```
    /// use ferrite_nn::data::Normalize;
    /// assert_eq!(Normalize::NONE.apply(51), 0.2);
    /// ```
    pub const NONE: Normalize = Normalize {
        mean: 0.0,
        std: 1.0,
    };

    /// A normalisation with the given mean and standard deviation (of pixels scaled to `[0, 1]`).
    ///
    /// # Errors
    /// [`DataError::Invalid`] when `mean` is not finite or `std` is not finite and positive.
    ///
    /// ```
    /// use ferrite_nn::data::Normalize;
    /// assert_eq!(Normalize::new(0.5, 0.25)?.apply(255), 2.0);
    /// assert!(Normalize::new(0.5, 0.0).is_err());
    /// assert!(Normalize::new(f64::NAN, 1.0).is_err());
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn new(mean: f64, std: f64) -> Result<Self, DataError> {
        if !mean.is_finite() || !std.is_finite() || std <= 0.0 {
            return Err(DataError::invalid(
                "Normalize::new",
                format!(
                    "expected a finite mean and a finite positive std, found mean {mean} and std {std}"
                ),
            ));
        }
        Ok(Normalize { mean, std })
    }

    /// The mean subtracted from `pixel / 255`.
    ///
    /// ```
    /// use ferrite_nn::data::Normalize;
    /// assert_eq!(Normalize::NONE.mean(), 0.0);
    /// ```
    pub fn mean(self) -> f64 {
        self.mean
    }

    /// The standard deviation `pixel / 255 - mean` is divided by.
    ///
    /// ```
    /// use ferrite_nn::data::Normalize;
    /// assert_eq!(Normalize::NONE.std(), 1.0);
    /// ```
    pub fn std(self) -> f64 {
        self.std
    }

    /// The feature value of one pixel: `(pixel / 255 - mean) / std`.
    ///
    /// ```
    /// use ferrite_nn::data::Normalize;
    /// assert_eq!(Normalize::NONE.apply(0), 0.0);
    /// ```
    pub fn apply(self, pixel: u8) -> f64 {
        (f64::from(pixel) / 255.0 - self.mean) / self.std
    }

    fn table(self) -> [f64; 256] {
        std::array::from_fn(|p| self.apply(p as u8))
    }
}

impl Default for Normalize {
    /// [`Normalize::MNIST`].
    fn default() -> Self {
        Normalize::MNIST
    }
}

/// The MNIST digits (or any data set in its format): `n` grayscale images of `h × w`
/// bytes with a label 0–9 each, as a [`Dataset`] of `[1, h, w]` features.
///
/// Features are the pixels scaled to `[0, 1]` and normalised by a [`Normalize`]
/// (by default [`Normalize::MNIST`]): the 256 possible values are computed once per data
/// set, so that filling a batch is one table look-up per pixel.
///
/// Sources:
/// * [`Mnist::embedded`]: the 10,000-digit subset compiled into this crate (8,004 training
///   and 1,996 test digits of 28 × 28, from the MNIST database by Yann LeCun, Corinna Cortes
///   and Christopher J. C. Burges, CC BY-SA 3.0; see `data/mnist-subset/README.md` of this
///   crate for their provenance);
/// * [`Mnist::from_dir`]: the standard files (the full MNIST, or anything in its format);
/// * [`Mnist::from_idx_bytes`] and [`Mnist::new`]: bytes and pixels in memory.
///
/// ```
/// use ferrite_nn::data::{Mnist, Split};
/// let test = Mnist::embedded(Split::Test)?;
/// assert_eq!(test.len(), 1996);
/// assert_eq!(test.image_size(), [28, 28]);
/// let sample = test.get(0)?;
/// assert_eq!(sample.features.shape(), &[1, 28, 28]);
/// assert_eq!(sample.label, test.labels()[0] as usize);
/// # Ok::<(), ferrite_nn::data::DataError>(())
/// ```
#[derive(Clone)]
pub struct Mnist {
    pixels: Vec<u8>,
    labels: Vec<u8>,
    size: [usize; 2],
    normalize: Normalize,
    table32: [f32; 256],
    kind: MnistKind,
}

static TRAIN_IMAGES: &[u8] = include_bytes!("../../data/mnist-subset/train-images-idx3-ubyte.gz");
static TRAIN_LABELS: &[u8] = include_bytes!("../../data/mnist-subset/train-labels-idx1-ubyte.gz");
static TEST_IMAGES: &[u8] = include_bytes!("../../data/mnist-subset/t10k-images-idx3-ubyte.gz");
static TEST_LABELS: &[u8] = include_bytes!("../../data/mnist-subset/t10k-labels-idx1-ubyte.gz");

/// The first label that is not a digit, with its index.
fn first_bad_label(labels: &[u8]) -> Option<(usize, u8)> {
    labels
        .iter()
        .position(|&l| usize::from(l) >= CLASSES)
        .map(|i| (i, labels[i]))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

impl Mnist {
    /// A data set from pixels in memory: `labels.len()` images of `image_size = [h, w]`
    /// bytes, row-major, one after the other.
    ///
    /// # Errors
    /// [`DataError::Invalid`] when the image size is empty, `pixels.len()` is not
    /// `labels.len() * h * w`, or a label is not a digit 0–9.
    ///
    /// ```
    /// use ferrite_nn::data::Mnist;
    /// let digits = Mnist::new(vec![0, 255, 255, 0, 9, 9, 9, 9], vec![3, 7], [2, 2])?;
    /// assert_eq!(digits.len(), 2);
    /// assert_eq!(digits.image(1), Some(&[9u8, 9, 9, 9][..]));
    /// assert!(Mnist::new(vec![0; 4], vec![10], [2, 2]).is_err());
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn new(
        pixels: Vec<u8>,
        labels: Vec<u8>,
        image_size: [usize; 2],
    ) -> Result<Self, DataError> {
        const OP: &str = "Mnist::new";
        let [h, w] = image_size;
        if h == 0 || w == 0 {
            return Err(DataError::invalid(
                OP,
                format!("image size {h}x{w} is empty"),
            ));
        }
        let expected = labels.len().checked_mul(h).and_then(|x| x.checked_mul(w));
        if expected != Some(pixels.len()) {
            return Err(DataError::invalid(
                OP,
                format!(
                    "{} of {h}x{w} need {} pixels but {} were given",
                    plural(labels.len(), "image"),
                    expected.map_or_else(|| "more".to_string(), |e| e.to_string()),
                    pixels.len()
                ),
            ));
        }
        if let Some((i, l)) = first_bad_label(&labels) {
            return Err(DataError::invalid(
                OP,
                format!("label {l} at index {i} is not a digit (expected 0 to 9)"),
            ));
        }
        Ok(Self::assemble(pixels, labels, image_size))
    }

    fn assemble(pixels: Vec<u8>, labels: Vec<u8>, size: [usize; 2]) -> Self {
        let mut mnist = Mnist {
            pixels,
            labels,
            size,
            normalize: Normalize::MNIST,
            table32: [0.0; 256],
            kind: MnistKind::Mnist,
        };
        mnist.set_normalize(Normalize::MNIST);
        mnist
    }

    fn set_normalize(&mut self, normalize: Normalize) {
        self.normalize = normalize;
        self.table32 = normalize.table().map(|v| v as f32);
    }

    /// A data set from the bytes of an image file and a label file in IDX format
    /// (gzip-compressed or not); the names are used in messages.
    ///
    /// # Errors
    /// [`DataError::Format`] when a file is not a well-formed IDX array (see
    /// [`parse_idx`](super::parse_idx)), the images are not 3-D `[n, h, w]` (magic number
    /// `0x00000803`) with a non-empty image size, the labels are not 1-D `[n]` (magic number
    /// `0x00000801`) with the same `n`, or a label is not a digit 0–9.
    ///
    /// ```
    /// use ferrite_nn::data::{DataError, Mnist};
    /// // Two 2x2 images, then two labels.
    /// let images = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 2, 3, 4, 5, 6, 7];
    /// let labels = [0, 0, 8, 1, 0, 0, 0, 2, 4, 2];
    /// let m = Mnist::from_idx_bytes(&images, "images", &labels, "labels")?;
    /// assert_eq!((m.len(), m.image_size(), m.labels()), (2, [2, 2], &[4u8, 2][..]));
    ///
    /// // The files the wrong way round:
    /// let err = Mnist::from_idx_bytes(&labels, "labels", &images, "images").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "labels: expected magic number 0x00000803 (images: unsigned bytes, 3 dimensions), \
    ///      found 0x00000801 (1 dimension)"
    /// );
    /// # Ok::<(), DataError>(())
    /// ```
    pub fn from_idx_bytes(
        images: &[u8],
        images_name: &str,
        labels: &[u8],
        labels_name: &str,
    ) -> Result<Self, DataError> {
        let images = parse_idx(images, images_name)?;
        let labels = parse_idx(labels, labels_name)?;
        Self::from_arrays(images, images_name, labels, labels_name)
    }

    fn from_arrays(
        images: IdxArray,
        images_name: &str,
        labels: IdxArray,
        labels_name: &str,
    ) -> Result<Self, DataError> {
        let format = |path: &str, message: String| DataError::Format {
            path: path.to_string(),
            message,
        };
        let ndim = |a: &IdxArray| plural(a.dims.len(), "dimension");
        if images.dims.len() != 3 {
            return Err(format(
                images_name,
                format!(
                    "expected magic number 0x00000803 (images: unsigned bytes, 3 dimensions), \
                     found 0x{:08X} ({})",
                    images.magic(),
                    ndim(&images)
                ),
            ));
        }
        if labels.dims.len() != 1 {
            return Err(format(
                labels_name,
                format!(
                    "expected magic number 0x00000801 (labels: unsigned bytes, 1 dimension), \
                     found 0x{:08X} ({})",
                    labels.magic(),
                    ndim(&labels)
                ),
            ));
        }
        let (n, h, w) = (images.dims[0], images.dims[1], images.dims[2]);
        if h == 0 || w == 0 {
            return Err(format(
                images_name,
                format!("images of {h}x{w} pixels are empty"),
            ));
        }
        if labels.dims[0] != n {
            return Err(format(
                labels_name,
                format!(
                    "has {} but {images_name} has {}",
                    plural(labels.dims[0], "label"),
                    plural(n, "image")
                ),
            ));
        }
        if let Some((i, l)) = first_bad_label(&labels.data) {
            return Err(format(
                labels_name,
                format!("label {l} at index {i} is not a digit (expected 0 to 9)"),
            ));
        }
        Ok(Self::assemble(images.data, labels.data, [h, w]))
    }

    /// Reads a split from a directory holding the standard MNIST file names, each either
    /// raw or gzip-compressed: `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
    /// `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`. The uncompressed name is
    /// tried first. Any image size works (e.g. 8 × 8 digits).
    ///
    /// # Errors
    /// [`DataError::Missing`] (listing the names looked for) when a file is absent,
    /// [`DataError::Io`] when one cannot be read, and the errors of
    /// [`Mnist::from_idx_bytes`] when one is malformed.
    ///
    /// ```
    /// use ferrite_nn::data::{DataError, Mnist, Split};
    /// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-subset");
    /// let test = Mnist::from_dir(dir, Split::Test)?;
    /// assert_eq!(test.len(), 1996);
    ///
    /// let err = Mnist::from_dir("/nonexistent", Split::Train).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "/nonexistent: no MNIST train images found \
    ///      (looked for train-images-idx3-ubyte and train-images-idx3-ubyte.gz)"
    /// );
    /// # Ok::<(), DataError>(())
    /// ```
    pub fn from_dir(dir: impl AsRef<Path>, split: Split) -> Result<Self, DataError> {
        let dir = dir.as_ref();
        let (mut mnist, checks) = Self::read_dir(dir, split)?;
        mnist.kind = if checks.iter().all(|c| c.is_original()) {
            MnistKind::Mnist
        } else {
            MnistKind::from_dir_name(dir).unwrap_or(MnistKind::Mnist)
        };
        Ok(mnist)
    }

    /// [`Mnist::from_dir`] for a data set the caller names, which sets the class names.
    /// For [`MnistKind::Mnist`], files of the size of the original MNIST files must also
    /// have their checksums (see [`MnistKind`]): a corrupt download is refused.
    ///
    /// # Errors
    /// Those of [`Mnist::from_dir`], and [`DataError::Format`] naming the file, the
    /// expected and the found CRC-32 when an original MNIST file does not match.
    ///
    /// ```
    /// use ferrite_nn::data::{Mnist, MnistKind, Split};
    /// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-subset");
    /// let test = Mnist::from_dir_as(dir, Split::Test, MnistKind::FashionMnist)?;
    /// assert_eq!(test.classes()[0], "T-shirt/top");
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn from_dir_as(
        dir: impl AsRef<Path>,
        split: Split,
        kind: MnistKind,
    ) -> Result<Self, DataError> {
        let (mut mnist, checks) = Self::read_dir(dir.as_ref(), split)?;
        if kind == MnistKind::Mnist {
            for check in &checks {
                check.verify()?;
            }
        }
        mnist.kind = kind;
        Ok(mnist)
    }

    /// The data set of `kind`'s classes and the files' checksums.
    fn read_dir(dir: &Path, split: Split) -> Result<(Self, [FileCheck; 2]), DataError> {
        let find = |stem: &str, what: &'static str| {
            let names = vec![stem.to_string(), format!("{stem}.gz")];
            names
                .iter()
                .map(|name| dir.join(name))
                .find(|path| path.is_file())
                .ok_or_else(|| DataError::Missing {
                    dir: dir.to_path_buf(),
                    what,
                    looked_for: names.clone(),
                })
        };
        let (images_what, labels_what) = match split {
            Split::Train => ("MNIST train images", "MNIST train labels"),
            Split::Test => ("MNIST test images", "MNIST test labels"),
        };
        let images_path = find(split.images_file(), images_what)?;
        let labels_path = find(split.labels_file(), labels_what)?;
        let images = read_idx(&images_path)?;
        let labels = read_idx(&labels_path)?;
        let checks = [
            FileCheck::new(&images_path, split.images_file(), &images),
            FileCheck::new(&labels_path, split.labels_file(), &labels),
        ];
        let mnist = Self::from_arrays(
            images,
            &images_path.display().to_string(),
            labels,
            &labels_path.display().to_string(),
        )?;
        Ok((mnist, checks))
    }

    /// Which data set this is (set by [`Mnist::from_dir`] or [`Mnist::from_dir_as`];
    /// [`MnistKind::Mnist`] otherwise): it names the classes.
    ///
    /// ```
    /// use ferrite_nn::data::{Mnist, MnistKind, Split};
    /// assert_eq!(Mnist::embedded(Split::Test)?.kind(), MnistKind::Mnist);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn kind(&self) -> MnistKind {
        self.kind
    }

    /// The same data, its classes named as those of `kind`.
    ///
    /// ```
    /// use ferrite_nn::data::{Mnist, MnistKind};
    /// let m = Mnist::new(vec![0], vec![9], [1, 1])?.with_kind(MnistKind::FashionMnist);
    /// assert_eq!(m.classes()[9], "Ankle boot");
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn with_kind(mut self, kind: MnistKind) -> Self {
        self.kind = kind;
        self
    }

    /// The names of the ten classes, label order ([`MnistKind::classes`]).
    ///
    /// ```
    /// use ferrite_nn::data::{Mnist, Split};
    /// assert_eq!(Mnist::embedded(Split::Test)?.classes()[7], "7");
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn classes(&self) -> &'static [&'static str; 10] {
        self.kind.classes()
    }

    /// The 10,000-digit MNIST subset compiled into this crate: 8,004 training and 1,996
    /// test digits of 28 × 28 (about 1,000 per class in all), decompressed on each call.
    ///
    /// # Errors
    /// None in practice: the embedded files are checked like any other
    /// ([`Mnist::from_idx_bytes`]).
    ///
    /// ```
    /// use ferrite_nn::data::{Mnist, Split};
    /// let train = Mnist::embedded(Split::Train)?;
    /// assert_eq!((train.len(), train.image_size()), (8004, [28, 28]));
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn embedded(split: Split) -> Result<Self, DataError> {
        let (images, labels) = match split {
            Split::Train => (TRAIN_IMAGES, TRAIN_LABELS),
            Split::Test => (TEST_IMAGES, TEST_LABELS),
        };
        let name = |file: &str| format!("embedded MNIST {} ({file}.gz)", split.name());
        Self::from_idx_bytes(
            images,
            &name(split.images_file()),
            labels,
            &name(split.labels_file()),
        )
    }

    /// The same data with another normalisation (the default is [`Normalize::MNIST`]).
    ///
    /// ```
    /// use ferrite_nn::data::{Mnist, Normalize};
    /// let m = Mnist::new(vec![0, 255], vec![1], [1, 2])?.with_normalize(Normalize::NONE);
    /// assert_eq!(m.get(0)?.features.to_vec(), vec![0.0, 1.0]);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn with_normalize(mut self, normalize: Normalize) -> Self {
        self.set_normalize(normalize);
        self
    }

    /// The normalisation applied to the pixels.
    ///
    /// ```
    /// use ferrite_nn::data::{Mnist, Normalize};
    /// let m = Mnist::new(vec![0], vec![1], [1, 1])?;
    /// assert_eq!(m.normalize(), Normalize::MNIST);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn normalize(&self) -> Normalize {
        self.normalize
    }

    /// The number of images.
    ///
    /// ```
    /// use ferrite_nn::data::Mnist;
    /// assert_eq!(Mnist::new(vec![0; 8], vec![1, 2], [2, 2])?.len(), 2);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no image.
    ///
    /// ```
    /// use ferrite_nn::data::Mnist;
    /// assert!(Mnist::new(vec![], vec![], [28, 28])?.is_empty());
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The size `[h, w]` (rows, columns) of every image.
    ///
    /// ```
    /// use ferrite_nn::data::Mnist;
    /// assert_eq!(Mnist::new(vec![0; 6], vec![0], [2, 3])?.image_size(), [2, 3]);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn image_size(&self) -> [usize; 2] {
        self.size
    }

    /// All the pixels, image after image, each row-major (`len() * h * w` bytes, 0 = black).
    ///
    /// ```
    /// use ferrite_nn::data::Mnist;
    /// assert_eq!(Mnist::new(vec![1, 2, 3, 4], vec![0, 0], [1, 2])?.pixels(), &[1, 2, 3, 4]);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// All the labels, one digit 0–9 per image.
    ///
    /// ```
    /// use ferrite_nn::data::Mnist;
    /// assert_eq!(Mnist::new(vec![0, 0], vec![5, 9], [1, 1])?.labels(), &[5, 9]);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The pixels of image `index` (`h * w` bytes, row-major), or `None` past the end.
    ///
    /// ```
    /// use ferrite_nn::data::Mnist;
    /// let m = Mnist::new(vec![1, 2, 3, 4], vec![0, 0], [1, 2])?;
    /// assert_eq!(m.image(1), Some(&[3u8, 4][..]));
    /// assert_eq!(m.image(2), None);
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn image(&self, index: usize) -> Option<&[u8]> {
        let n = self.size[0] * self.size[1];
        (index < self.len()).then(|| &self.pixels[index * n..(index + 1) * n])
    }

    /// Sample `index`: its normalised features of shape `[1, h, w]` and its label
    /// (the same as [`Dataset::get`]).
    ///
    /// # Errors
    /// [`DataError::Invalid`] when `index >= len()`.
    ///
    /// ```
    /// use ferrite_nn::data::{Mnist, Normalize};
    /// let m = Mnist::new(vec![0, 51], vec![8], [1, 2])?.with_normalize(Normalize::NONE);
    /// let s = m.get(0)?;
    /// assert_eq!((s.features.to_vec(), s.label), (vec![0.0, 0.2], 8));
    /// assert!(m.get(1).is_err());
    /// # Ok::<(), ferrite_nn::data::DataError>(())
    /// ```
    pub fn get(&self, index: usize) -> Result<Sample, DataError> {
        Dataset::get(self, index)
    }

    fn fill(
        &self,
        op: &'static str,
        index: usize,
        out: &mut [f32],
        table: &[f32; 256],
    ) -> Result<usize, DataError> {
        let len = self.len();
        let image = self.image(index).ok_or_else(|| {
            DataError::invalid(
                op,
                format!(
                    "index {index} is out of range for {}",
                    plural(len, "sample")
                ),
            )
        })?;
        if out.len() != image.len() {
            return Err(DataError::invalid(
                op,
                format!(
                    "the output holds {} values but a sample has {} ({}x{})",
                    out.len(),
                    image.len(),
                    self.size[0],
                    self.size[1]
                ),
            ));
        }
        for (o, &p) in out.iter_mut().zip(image) {
            *o = table[usize::from(p)];
        }
        Ok(usize::from(self.labels[index]))
    }
}

impl fmt::Debug for Mnist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mnist")
            .field("len", &self.len())
            .field("image_size", &self.size)
            .field("normalize", &self.normalize)
            .finish_non_exhaustive()
    }
}

impl Dataset for Mnist {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn sample_shape(&self) -> Vec<usize> {
        vec![1, self.size[0], self.size[1]]
    }

    fn get_into(&self, index: usize, out: &mut [f32]) -> Result<usize, DataError> {
        self.fill("Mnist::get_into", index, out, &self.table32)
    }
}

/// Which data set in MNIST's format (four IDX files of the same names, 28 × 28 grayscale
/// images, ten classes) a directory holds; it names the classes.
///
/// [`Mnist::from_dir`] decides it thus: files whose CRC-32 (of the uncompressed bytes, so
/// raw and `.gz` files alike) is that of an original MNIST file are MNIST; otherwise a
/// directory whose path contains `fashion` or `kmnist` (any case, as in torchvision's
/// `FashionMNIST/raw` layout) holds that data set; anything else is taken for digits. To be
/// sure, name it: [`Mnist::from_dir_as`].
///
/// The original MNIST files, their uncompressed sizes and CRC-32s (the MD5 of the
/// uncompressed training images is `6bbc9ace898e44ae57da46a324031adb`, as published with
/// them):
///
/// | file | bytes | CRC-32 |
/// |---|---|---|
/// | `train-images-idx3-ubyte` | 47,040,016 | `e9f4d8b3` |
/// | `train-labels-idx1-ubyte` | 60,008 | `e0cb4ad2` |
/// | `t10k-images-idx3-ubyte` | 7,840,016 | `91373bdf` |
/// | `t10k-labels-idx1-ubyte` | 10,008 | `4ab9eff9` |
///
/// ```
/// use ferrite_nn::data::MnistKind;
/// assert_eq!(MnistKind::FashionMnist.classes()[0], "T-shirt/top");
/// assert_eq!(MnistKind::Kmnist.classes()[1], "ki");
/// assert_eq!(MnistKind::Mnist.name(), "MNIST");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MnistKind {
    /// The handwritten digits 0–9.
    #[default]
    Mnist,
    /// Zalando's Fashion-MNIST: ten kinds of clothing.
    FashionMnist,
    /// Kuzushiji-MNIST: ten cursive Japanese (hiragana) characters.
    Kmnist,
}

impl MnistKind {
    /// The class names in label order (torchvision's, with digits as "0" to "9").
    ///
    /// ```
    /// use ferrite_nn::data::MnistKind;
    /// assert_eq!(MnistKind::FashionMnist.classes()[9], "Ankle boot");
    /// ```
    pub fn classes(self) -> &'static [&'static str; 10] {
        match self {
            MnistKind::Mnist => &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            MnistKind::FashionMnist => &[
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
            MnistKind::Kmnist => &["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
        }
    }

    /// The data set's usual name.
    ///
    /// ```
    /// use ferrite_nn::data::MnistKind;
    /// assert_eq!(MnistKind::FashionMnist.name(), "Fashion-MNIST");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            MnistKind::Mnist => "MNIST",
            MnistKind::FashionMnist => "Fashion-MNIST",
            MnistKind::Kmnist => "KMNIST",
        }
    }

    /// The kind a directory's path names (`fashion` or `kmnist` in it, any case), if any.
    fn from_dir_name(dir: &Path) -> Option<Self> {
        let path = dir.to_string_lossy().to_lowercase();
        if path.contains("fashion") {
            Some(MnistKind::FashionMnist)
        } else if path.contains("kmnist") {
            Some(MnistKind::Kmnist)
        } else {
            None
        }
    }
}

/// The original MNIST files: (name, uncompressed bytes, CRC-32 of them).
const MNIST_FILES: [(&str, usize, u32); 4] = [
    ("train-images-idx3-ubyte", 47_040_016, 0xe9f4_d8b3),
    ("train-labels-idx1-ubyte", 60_008, 0xe0cb_4ad2),
    ("t10k-images-idx3-ubyte", 7_840_016, 0x9137_3bdf),
    ("t10k-labels-idx1-ubyte", 10_008, 0x4ab9_eff9),
];

/// A file's uncompressed size and CRC-32, and the original MNIST file's, if one has its name.
struct FileCheck {
    path: String,
    len: usize,
    crc: u32,
    original: Option<(usize, u32)>,
}

impl FileCheck {
    fn new(path: &Path, stem: &str, array: &IdxArray) -> Self {
        let mut header = array.magic().to_be_bytes().to_vec();
        for &d in &array.dims {
            header.extend_from_slice(&(d as u32).to_be_bytes());
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&header);
        hasher.update(&array.data);
        FileCheck {
            path: path.display().to_string(),
            len: header.len() + array.data.len(),
            crc: hasher.finalize(),
            original: MNIST_FILES
                .iter()
                .find(|(name, _, _)| *name == stem)
                .map(|&(_, len, crc)| (len, crc)),
        }
    }

    fn is_original(&self) -> bool {
        self.original == Some((self.len, self.crc))
    }

    /// Refuses a file of an original's size whose checksum differs.
    fn verify(&self) -> Result<(), DataError> {
        match self.original {
            Some((len, crc)) if len == self.len && crc != self.crc => Err(DataError::Format {
                path: self.path.clone(),
                message: format!(
                    "expected the CRC-32 {crc:08x} of the original MNIST file \
                     ({len} bytes uncompressed), found {:08x}: the file is corrupt",
                    self.crc
                ),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::{gzip, idx_bytes, temp_dir};

    /// Three 8x8 "digits" whose pixels are `10 * image + (position in the image) % 10`.
    fn tiny() -> (Vec<u8>, Vec<u8>) {
        let pixels: Vec<u8> = (0..3 * 64)
            .map(|i| (10 * (i / 64) + i % 64 % 10) as u8)
            .collect();
        (idx_bytes(&[3, 8, 8], &pixels), idx_bytes(&[3], &[4, 0, 9]))
    }

    fn err(result: Result<Mnist, DataError>) -> String {
        result.expect_err("expected an error").to_string()
    }

    #[test]
    fn reads_any_image_size() {
        let (images, labels) = tiny();
        let m = Mnist::from_idx_bytes(&images, "i", &labels, "l").unwrap();
        assert_eq!(
            (m.len(), m.image_size(), m.labels()),
            (3, [8, 8], &[4u8, 0, 9][..])
        );
        assert_eq!(m.image(2).unwrap()[..3], [20, 21, 22]);
        assert_eq!(Dataset::sample_shape(&m), vec![1, 8, 8]);
        let s = m.with_normalize(Normalize::NONE).get(1).unwrap();
        assert_eq!(s.label, 0);
        assert_eq!(s.features.shape(), &[1, 8, 8]);
        assert_eq!(s.features.to_vec()[3], 13.0 / 255.0);
    }

    #[test]
    fn checks_shapes_counts_and_labels() {
        let (images, labels) = tiny();
        // Images where labels belong and vice versa.
        let m = err(Mnist::from_idx_bytes(&labels, "l", &labels, "l2"));
        assert_eq!(
            m,
            "l: expected magic number 0x00000803 (images: unsigned bytes, 3 dimensions), found 0x00000801 (1 dimension)"
        );
        let m = err(Mnist::from_idx_bytes(&images, "i", &images, "i2"));
        assert_eq!(
            m,
            "i2: expected magic number 0x00000801 (labels: unsigned bytes, 1 dimension), found 0x00000803 (3 dimensions)"
        );

        let m = err(Mnist::from_idx_bytes(
            &images,
            "i",
            &idx_bytes(&[2], &[1, 2]),
            "l",
        ));
        assert_eq!(m, "l: has 2 labels but i has 3 images");

        let m = err(Mnist::from_idx_bytes(
            &images,
            "i",
            &idx_bytes(&[3], &[1, 10, 2]),
            "l",
        ));
        assert_eq!(m, "l: label 10 at index 1 is not a digit (expected 0 to 9)");

        let m = err(Mnist::from_idx_bytes(
            &idx_bytes(&[2, 0, 28], &[]),
            "i",
            &idx_bytes(&[2], &[1, 2]),
            "l",
        ));
        assert_eq!(m, "i: images of 0x28 pixels are empty");

        // Errors of the IDX layer come through with their file name.
        let m = err(Mnist::from_idx_bytes(&images[..100], "cut", &labels, "l"));
        assert!(m.starts_with("cut: truncated"), "{m}");
    }

    #[test]
    fn new_checks_its_arguments() {
        assert!(Mnist::new(vec![0; 8], vec![1, 2], [2, 2]).is_ok());
        let m = err(Mnist::new(vec![0; 7], vec![1, 2], [2, 2]));
        assert_eq!(
            m,
            "Mnist::new: 2 images of 2x2 need 8 pixels but 7 were given"
        );
        let m = err(Mnist::new(vec![0; 8], vec![1, 255], [2, 2]));
        assert_eq!(
            m,
            "Mnist::new: label 255 at index 1 is not a digit (expected 0 to 9)"
        );
        assert!(Mnist::new(vec![], vec![], [0, 3]).is_err());
        assert!(Mnist::new(vec![], vec![1], [usize::MAX, 2]).is_err());
    }

    #[test]
    fn kinds_from_checksums_and_directory_names() {
        let dir = temp_dir("kinds").join("FashionMNIST").join("raw");
        std::fs::create_dir_all(&dir).unwrap();
        let n = 10_000u32;
        let images = idx_bytes(&[n, 1, 1], &vec![0; 10_000]);
        std::fs::write(dir.join("t10k-images-idx3-ubyte"), images).unwrap();
        let labels = idx_bytes(&[n], &vec![3; 10_000]);
        std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), gzip(&labels)).unwrap();
        let m = Mnist::from_dir(&dir, Split::Test).unwrap();
        assert_eq!(
            (m.kind(), m.classes()[3]),
            (MnistKind::FashionMnist, "Dress")
        );
        // Named MNIST, a labels file of the original's size must have its checksum.
        let err = Mnist::from_dir_as(&dir, Split::Test, MnistKind::Mnist)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "t10k-labels-idx1-ubyte.gz: expected the CRC-32 4ab9eff9 of the original MNIST \
                 file (10008 bytes uncompressed), found"
            ),
            "{err}"
        );
        let k = Mnist::from_dir_as(&dir, Split::Test, MnistKind::Kmnist).unwrap();
        assert_eq!(k.classes()[0], "o");
        // The real files are MNIST by their checksums (skipped in a clone without them).
        let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist-full");
        if full.is_dir() {
            let test = Mnist::from_dir_as(&full, Split::Test, MnistKind::Mnist).unwrap();
            assert_eq!((test.len(), test.kind()), (10_000, MnistKind::Mnist));
            let fake = temp_dir("fashion-named");
            for f in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
                std::fs::copy(full.join(f), fake.join(f)).unwrap();
            }
            // The checksum wins over a "fashion" in the path.
            assert_eq!(
                Mnist::from_dir(&fake, Split::Test).unwrap().kind(),
                MnistKind::Mnist
            );
        } else {
            eprintln!("skipped: {} is absent", full.display());
        }
    }

    #[test]
    fn normalisation_values() {
        let m = Mnist::new(vec![0, 255, 128], vec![0], [1, 3]).unwrap();
        let f = m.get(0).unwrap().features.to_vec();
        let expected = [
            -0.1307 / 0.3081,
            (1.0 - 0.1307) / 0.3081,
            (128.0 / 255.0 - 0.1307) / 0.3081,
        ];
        for (got, want) in f.iter().zip(expected) {
            assert_eq!(*got, want as f32);
        }
        assert!((f[0] - -0.424_212_9).abs() < 1e-6, "{}", f[0]);

        assert_eq!(Normalize::MNIST.apply(128), expected[2]);

        let m = m.with_normalize(Normalize::new(0.5, 0.5).unwrap());
        let mut out = [0.0f32; 3];
        m.get_into(0, &mut out).unwrap();
        assert_eq!(out[..2], [-1.0, 1.0]);
    }

    #[test]
    fn get_checks_index_and_output_length() {
        let m = Mnist::new(vec![0; 4], vec![1], [2, 2]).unwrap();
        assert_eq!(
            m.get(1).unwrap_err().to_string(),
            "Mnist::get_into: index 1 is out of range for 1 sample"
        );
        let mut out = [0.0f32; 3];
        assert_eq!(
            m.get_into(0, &mut out).unwrap_err().to_string(),
            "Mnist::get_into: the output holds 3 values but a sample has 4 (2x2)"
        );
    }

    #[test]
    fn embedded_subset() {
        for (split, n) in [(Split::Train, 8004), (Split::Test, 1996)] {
            let m = Mnist::embedded(split).unwrap();
            assert_eq!(m.len(), n);
            assert_eq!(m.image_size(), [28, 28]);
            assert_eq!(m.pixels().len(), n * 784);
            let mut counts = [0usize; 10];
            for &l in m.labels() {
                counts[usize::from(l)] += 1; // panics if a label is >= 10
            }
            assert!(counts.iter().all(|&c| c >= n / 20), "{split:?}: {counts:?}");
            // Real digits: dark background, mean intensity near MNIST's 0.1307.
            let mean = m.pixels().iter().map(|&p| f64::from(p)).sum::<f64>()
                / (255.0 * m.pixels().len() as f64);
            assert!((0.11..0.15).contains(&mean), "{split:?}: mean {mean}");
            // The border of a digit is black.
            assert!(m.image(0).unwrap()[..28].iter().all(|&p| p == 0));
        }
    }

    #[test]
    fn from_dir_finds_raw_and_gzipped_files() {
        let (images, labels) = tiny();
        let dir = temp_dir("mnist");
        std::fs::write(dir.join("t10k-images-idx3-ubyte"), &images).unwrap();
        std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), gzip(&labels)).unwrap();
        let m = Mnist::from_dir(&dir, Split::Test).unwrap();
        assert_eq!((m.len(), m.image_size()), (3, [8, 8]));

        match Mnist::from_dir(&dir, Split::Train) {
            Err(DataError::Missing {
                dir: d,
                what,
                looked_for,
            }) => {
                assert_eq!(d, dir);
                assert_eq!(what, "MNIST train images");
                assert_eq!(
                    looked_for,
                    ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"]
                );
            }
            other => panic!("expected Missing, got {other:?}"),
        }
        std::fs::write(dir.join("train-images-idx3-ubyte.gz"), gzip(&images)).unwrap();
        let m = err(Mnist::from_dir(&dir, Split::Train));
        assert!(m.ends_with("no MNIST train labels found (looked for train-labels-idx1-ubyte and train-labels-idx1-ubyte.gz)"), "{m}");

        // A malformed file is reported with its path.
        std::fs::write(
            dir.join("train-labels-idx1-ubyte"),
            idx_bytes(&[3], &[1, 2]),
        )
        .unwrap();
        let m = err(Mnist::from_dir(&dir, Split::Train));
        let path = dir.join("train-labels-idx1-ubyte").display().to_string();
        assert_eq!(
            m,
            format!("{path}: truncated: header says dims [3] (3 bytes) but only 2 bytes follow")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shipped_files_match_the_embedded_subset() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist-subset");
        for split in [Split::Train, Split::Test] {
            let a = Mnist::from_dir(&dir, split).unwrap();
            let b = Mnist::embedded(split).unwrap();
            assert_eq!(a.pixels(), b.pixels());
            assert_eq!(a.labels(), b.labels());
        }
    }
}
