//! `ImageFolder`: PNG and JPEG files in one folder per class (cargo feature `image`).

use std::path::{Path, PathBuf};

use super::DataError;
use super::loader::Dataset;

/// The file extensions read, compared without regard to case.
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Images in class folders, like `torchvision.datasets.ImageFolder`: `root/<class>/<file>`
/// with the classes the sorted names of `root`'s sub-folders (label = position) and the
/// samples each class's `.png`, `.jpg` and `.jpeg` files in sorted order.
///
/// Images are decoded when a sample is asked for, as RGB (`[3, H, W]`) or, with
/// [`ImageFolder::with_grayscale`], luma (`[1, H, W]`), features `pixel / 255`. All images
/// must be of the size of the first one (resize them beforehand): a sample of another size
/// is refused with an error naming its file.
///
/// Needs the cargo feature `image` of `ferrite-nn` (the `image` crate with its PNG and
/// JPEG decoders, which compile in about a minute).
///
/// ```
/// use ferrite_nn::data::{Dataset, ImageFolder};
/// let root = std::env::temp_dir().join("ferrite-image-folder-doc");
/// for (class, value) in [("cat", 10u8), ("dog", 200)] {
///     std::fs::create_dir_all(root.join(class))?;
///     image::GrayImage::from_pixel(4, 3, image::Luma([value])).save(root.join(class).join("a.png"))?;
/// }
/// let data = ImageFolder::new(&root)?;
/// assert_eq!(data.classes(), &["cat", "dog"]);
/// assert_eq!((data.len(), data.sample_shape()), (2, vec![3, 3, 4]));
/// let dog = data.get(1)?;
/// assert_eq!((dog.label, dog.features.to_vec()[0]), (1, 200.0 / 255.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ImageFolder {
    classes: Vec<String>,
    samples: Vec<(PathBuf, usize)>,
    /// `[h, w]` of the first image.
    size: [usize; 2],
    grayscale: bool,
}

/// The sorted entries of `dir` for which `keep` holds.
fn sorted_entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        if keep(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn is_image(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn decode_error(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::format(
        path.display().to_string(),
        format!("expected a PNG or JPEG image: {e}"),
    )
}

impl ImageFolder {
    /// The classes and image files under `root`; reads the first image's size.
    ///
    /// # Errors
    /// [`DataError::Io`] when a folder cannot be listed, [`DataError::Missing`] when no
    /// class folder holds an image, [`DataError::Format`] when the first image cannot be
    /// read.
    ///
    /// ```
    /// use ferrite_nn::data::ImageFolder;
    /// let empty = std::env::temp_dir().join("ferrite-image-folder-empty");
    /// std::fs::create_dir_all(&empty)?;
    /// let err = ImageFolder::new(&empty).unwrap_err().to_string();
    /// assert!(err.contains("no PNG or JPEG images in class folders found"), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(root: impl AsRef<Path>) -> Result<Self, DataError> {
        let root = root.as_ref();
        let mut classes = Vec::new();
        let mut samples = Vec::new();
        for dir in sorted_entries(root, Path::is_dir)? {
            let label = classes.len();
            classes.push(
                dir.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            );
            samples.extend(
                sorted_entries(&dir, is_image)?
                    .into_iter()
                    .map(|p| (p, label)),
            );
        }
        let Some((first, _)) = samples.first() else {
            return Err(DataError::Missing {
                dir: root.to_path_buf(),
                what: "PNG or JPEG images in class folders",
                looked_for: EXTENSIONS
                    .iter()
                    .map(|e| format!("<class>/*.{e}"))
                    .collect(),
            });
        };
        let (w, h) = image::ImageReader::open(first)
            .map_err(|e| DataError::io(first, e))?
            .with_guessed_format()
            .map_err(|e| DataError::io(first, e))?
            .into_dimensions()
            .map_err(|e| decode_error(first, e))?;
        Ok(ImageFolder {
            classes,
            samples,
            size: [h as usize, w as usize],
            grayscale: false,
        })
    }

    /// Decodes images as one luma channel (`[1, H, W]`) instead of RGB.
    ///
    /// ```
    /// # use ferrite_nn::data::{Dataset, ImageFolder};
    /// # let root = std::env::temp_dir().join("ferrite-image-folder-gray");
    /// # std::fs::create_dir_all(root.join("a"))?;
    /// # image::GrayImage::new(2, 2).save(root.join("a").join("x.png"))?;
    /// let data = ImageFolder::new(&root)?.with_grayscale(true);
    /// assert_eq!(data.sample_shape(), vec![1, 2, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_grayscale(mut self, grayscale: bool) -> Self {
        self.grayscale = grayscale;
        self
    }

    /// The class names (the sub-folders' names), in label order.
    ///
    /// ```
    /// # use ferrite_nn::data::ImageFolder;
    /// # let root = std::env::temp_dir().join("ferrite-image-folder-classes");
    /// # std::fs::create_dir_all(root.join("zebra"))?;
    /// # image::GrayImage::new(2, 2).save(root.join("zebra").join("x.png"))?;
    /// assert_eq!(ImageFolder::new(&root)?.classes(), &["zebra"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Every sample's file and label, in order.
    ///
    /// ```
    /// # use ferrite_nn::data::ImageFolder;
    /// # let root = std::env::temp_dir().join("ferrite-image-folder-samples");
    /// # std::fs::create_dir_all(root.join("a"))?;
    /// # image::GrayImage::new(2, 2).save(root.join("a").join("x.png"))?;
    /// let data = ImageFolder::new(&root)?;
    /// assert!(data.samples()[0].0.ends_with("a/x.png"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn samples(&self) -> &[(PathBuf, usize)] {
        &self.samples
    }

    /// The size `[h, w]` every image must have (the first one's).
    ///
    /// ```
    /// # use ferrite_nn::data::ImageFolder;
    /// # let root = std::env::temp_dir().join("ferrite-image-folder-size");
    /// # std::fs::create_dir_all(root.join("a"))?;
    /// # image::GrayImage::new(5, 2).save(root.join("a").join("x.png"))?;
    /// assert_eq!(ImageFolder::new(&root)?.image_size(), [2, 5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn image_size(&self) -> [usize; 2] {
        self.size
    }
}

impl Dataset for ImageFolder {
    fn len(&self) -> usize {
        self.samples.len()
    }

    fn sample_shape(&self) -> Vec<usize> {
        vec![
            if self.grayscale { 1 } else { 3 },
            self.size[0],
            self.size[1],
        ]
    }

    fn get_into(&self, index: usize, out: &mut [f32]) -> Result<usize, DataError> {
        const OP: &str = "ImageFolder::get_into";
        let (path, label) = self.samples.get(index).ok_or_else(|| {
            DataError::invalid(
                OP,
                format!("index {index} is out of range for {} samples", self.len()),
            )
        })?;
        let [h, w] = self.size;
        let channels = if self.grayscale { 1 } else { 3 };
        if out.len() != channels * h * w {
            return Err(DataError::invalid(
                OP,
                format!(
                    "the output holds {} values but a sample has {} ({channels}x{h}x{w})",
                    out.len(),
                    channels * h * w
                ),
            ));
        }
        let image = image::open(path).map_err(|e| decode_error(path, e))?;
        let (iw, ih) = (image.width() as usize, image.height() as usize);
        if [ih, iw] != self.size {
            return Err(DataError::format(
                path.display().to_string(),
                format!("expected a {w}x{h} image like the first one, found {iw}x{ih}"),
            ));
        }
        let bytes = if self.grayscale {
            image.to_luma8().into_raw()
        } else {
            image.to_rgb8().into_raw()
        };
        // Interleaved HWC bytes to planar CHW features.
        for (k, &p) in bytes.iter().enumerate() {
            let (pixel, c) = (k / channels, k % channels);
            out[c * h * w + pixel] = f32::from(p) / 255.0;
        }
        Ok(*label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DataLoader;
    use crate::data::testutil::temp_dir;

    #[test]
    fn reads_rgb_png_and_jpeg_in_sorted_order_and_refuses_odd_sizes() {
        let root = temp_dir("image-folder");
        for class in ["b", "a"] {
            std::fs::create_dir_all(root.join(class)).unwrap();
        }
        let rgb = image::RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8, y as u8, 7]));
        rgb.save(root.join("a").join("2.png")).unwrap();
        rgb.save(root.join("a").join("1.PNG")).unwrap();
        rgb.save(root.join("b").join("x.jpg")).unwrap();
        std::fs::write(root.join("b").join("notes.txt"), "not an image").unwrap();
        let data = ImageFolder::new(&root).unwrap();
        assert_eq!(data.classes(), &["a", "b"]);
        let labels: Vec<usize> = data.samples().iter().map(|s| s.1).collect();
        assert_eq!(labels, [0, 0, 1]);
        assert!(data.samples()[0].0.ends_with("1.PNG"));
        let s = data.get(0).unwrap();
        assert_eq!(s.features.shape(), &[3, 2, 3]);
        let v = s.features.to_vec();
        assert_eq!(
            &v[..6],
            &[0.0, 1.0 / 255.0, 2.0 / 255.0, 0.0, 1.0 / 255.0, 2.0 / 255.0]
        );
        assert_eq!(v[12], 7.0 / 255.0);
        let batch = DataLoader::new(&data)
            .with_batch_size(3)
            .epoch(0)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(batch.images.shape(), &[3, 3, 2, 3]);

        image::RgbImage::new(4, 4)
            .save(root.join("b").join("y.png"))
            .unwrap();
        std::fs::write(root.join("b").join("z.png"), b"\x89PNG broken").unwrap();
        let data = ImageFolder::new(&root).unwrap();
        let err = data.get(3).unwrap_err().to_string();
        assert!(
            err.ends_with("y.png: expected a 3x2 image like the first one, found 4x4"),
            "{err}"
        );
        let err = data.get(4).unwrap_err().to_string();
        assert!(err.contains("z.png: expected a PNG or JPEG image"), "{err}");
    }
}
