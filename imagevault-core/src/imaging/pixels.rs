//! A decoded 8-bit image in one of the four channel layouts the pipeline keeps.

/// Channel layouts, all 8 bits per sample, interleaved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Grey.
    L,
    /// Grey and alpha.
    La,
    /// Red, green, blue.
    Rgb,
    /// Red, green, blue, alpha.
    Rgba,
}

impl Layout {
    pub(crate) fn channels(self) -> usize {
        match self {
            Self::L => 1,
            Self::La => 2,
            Self::Rgb => 3,
            Self::Rgba => 4,
        }
    }
}

/// Interleaved pixels, rows top to bottom, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pixels {
    width: u32,
    height: u32,
    layout: Layout,
    data: Vec<u8>,
}

impl Pixels {
    /// `None` unless `data` holds exactly `width * height` pixels of `layout`, so every
    /// `Pixels` can be indexed by coordinates without bounds surprises.
    pub(crate) fn new(width: u32, height: u32, layout: Layout, data: Vec<u8>) -> Option<Self> {
        let len = usize::try_from(width)
            .ok()?
            .checked_mul(usize::try_from(height).ok()?)?
            .checked_mul(layout.channels())?;
        (data.len() == len && width > 0 && height > 0).then_some(Self {
            width,
            height,
            layout,
            data,
        })
    }

    pub(crate) fn width(&self) -> u32 {
        self.width
    }

    pub(crate) fn height(&self) -> u32 {
        self.height
    }

    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    pub(crate) fn data(&self) -> &[u8] {
        &self.data
    }

    pub(crate) fn into_data(self) -> Vec<u8> {
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::{Layout, Pixels};

    #[test]
    fn length_must_match() {
        assert!(Pixels::new(2, 3, Layout::Rgb, vec![0; 18]).is_some());
        assert!(Pixels::new(2, 3, Layout::Rgb, vec![0; 17]).is_none());
        assert!(Pixels::new(2, 3, Layout::La, vec![0; 12]).is_some());
        assert!(Pixels::new(0, 3, Layout::L, vec![]).is_none());
        assert!(Pixels::new(u32::MAX, u32::MAX, Layout::Rgba, vec![]).is_none());
    }
}
